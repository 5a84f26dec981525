/**
 * Writes exports to disk without ever overwriting: JSONL goes to a temporary
 * file renamed into place; notebooks go one file per episode into a folder.
 * A full disk or a bad path gives a clear error and leaves nothing half-written.
 * Every string written goes through the redactor again, so logs written before
 * a secret format was known (or without redaction) export safely.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { exportRows, ExportFilters, ExportFormat, filtersFor, RowAnnotations, selectEpisodes, toNotebook } from '../episode/export';
import type { Redactor } from '../episode/redact';
import type { StoredEpisode } from '../episode/types';
import type { ExportSummary } from '../contract';
import { DomainError } from './errors';

function diskError(err: unknown, target: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DomainError('disk_full', `the disk is full: nothing was written to ${target}`);
  }
  if (code === 'EEXIST') {
    return new DomainError('exists', `${target} already exists: nothing was overwritten (choose another name)`);
  }
  return new DomainError('write_failed', `could not write ${target}: ${(err as Error).message}`);
}

/** An export that would be empty writes nothing: an empty file would only block the next try's name. */
function nothingToExport(stored: StoredEpisode[], format: ExportFormat, selected: number, target: string): DomainError {
  const why =
    stored.length === 0
      ? 'the episode log is empty'
      : `none of the ${stored.length} logged episode(s) ${selected === 0 ? 'match the filters' : `give ${format} rows`}` +
        (format === 'sft' || format === 'sft-split' ? ' (SFT takes answered episodes only unless asked to include others)' : '');
  return new DomainError('nothing_to_export', `nothing to export: ${why}. Nothing was written to ${target}`);
}

export async function writeExport(
  stored: StoredEpisode[],
  format: ExportFormat,
  target: string,
  filters: ExportFilters,
  redactor: Redactor,
  /** Fields to add to the selected episodes' rows (the judge's scores), asked once the selection is known. */
  annotate?: (selected: StoredEpisode[]) => Promise<RowAnnotations>
): Promise<ExportSummary> {
  const episodes = selectEpisodes(stored, filtersFor(format, filters));
  if (episodes.length === 0) {
    throw nothingToExport(stored, format, 0, target);
  }
  const annotations = annotate ? await annotate(episodes) : undefined;
  if (format === 'ipynb') {
    await fs.mkdir(target, { recursive: true });
    for (const s of episodes) {
      const file = path.join(target, `${s.episode.id.replace(/[^A-Za-z0-9._-]/g, '_')}.ipynb`);
      try {
        await fs.writeFile(file, JSON.stringify(redactor.value(toNotebook(s, annotations)), null, 1) + '\n', { flag: 'wx' });
      } catch (err) {
        await fs.unlink(file).catch(() => undefined);
        throw diskError(err, file);
      }
    }
    return { format, path: target, rows: episodes.length, episodes: episodes.length };
  }
  const rows = redactor.value(exportRows(episodes, format, annotations));
  if (rows.length === 0) {
    throw nothingToExport(stored, format, episodes.length, target);
  }
  const exists = await fs.stat(target).then(
    () => true,
    () => false
  );
  if (exists) {
    throw diskError(Object.assign(new Error('exists'), { code: 'EEXIST' }), target);
  }
  await fs.mkdir(path.dirname(target), { recursive: true });
  const temp = `${target}.${process.pid}.tmp`;
  try {
    await fs.writeFile(temp, rows.map(r => JSON.stringify(r)).join('\n') + '\n', { flag: 'wx' });
    await fs.link(temp, target); // fails if the target appeared meanwhile: never overwrite
  } catch (err) {
    throw diskError(err, target);
  } finally {
    await fs.unlink(temp).catch(() => undefined);
  }
  return { format, path: target, rows: rows.length, episodes: episodes.length };
}
