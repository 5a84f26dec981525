/**
 * Writes exports to disk without ever overwriting: JSONL goes to a temporary
 * file linked into place; notebooks go one file per episode into a folder.
 * A full disk or a bad path gives a clear error and leaves nothing half-written;
 * a refused export removes only what it created itself, never a file that was
 * there before it.
 * Every string written goes through the redactor again, so logs written before
 * a secret format was known (or without redaction) export safely.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { exportRows, ExportFilters, ExportFormat, filtersFor, RowAnnotations, selectEpisodes, toNotebook } from '../../episode/export';
import type { Redactor } from '../../episode/redact';
import type { StoredEpisode } from '../../episode/types';
import type { ExportSummary } from '../../contract';
import { DomainError } from '../errors';
import { isInside } from '../models/manifests';

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

/** A path with a NUL byte is the request's fault (Node's fs would throw a TypeError: a 500). */
function checkPathText(target: string): void {
  if (target.includes('\0')) {
    throw new DomainError('invalid_request', 'the export path holds a NUL byte');
  }
}

/**
 * `target` resolved inside `root` with every link followed: the deepest part
 * that exists is resolved by the file system, so a symlinked folder inside the
 * exports folder that points elsewhere is refused. What does not exist yet
 * cannot be a link (it is created by this export, as a plain folder or file).
 */
export async function exportTarget(root: string, target: string): Promise<string> {
  checkPathText(target);
  const resolved = path.resolve(root, target);
  const outside = () => new DomainError('path_outside', `"${target}" is outside the exports folder ${root}`);
  if (!isInside(root, resolved) || resolved === root) {
    throw outside();
  }
  await fs.mkdir(root, { recursive: true });
  const rootReal = await fs.realpath(root);
  let existing = resolved;
  const rest: string[] = [];
  for (;;) {
    try {
      existing = await fs.realpath(existing);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw diskError(err, resolved);
      }
      rest.unshift(path.basename(existing));
      existing = path.dirname(existing);
    }
  }
  const real = path.join(existing, ...rest);
  if (!isInside(rootReal, real) || real === rootReal) {
    throw outside();
  }
  return real;
}

/** Whether anything (a file, a folder, a dangling link) is at `file`. */
async function taken(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== 'ENOENT'
  );
}

function existsError(target: string): Error {
  return diskError(Object.assign(new Error('exists'), { code: 'EEXIST' }), target);
}

/**
 * Writes `text` at `file` unless something is there: a temporary file of this
 * call's own, hard-linked into place (the link fails if `file` appeared
 * meanwhile), then removed. Only the temporary file is ever deleted.
 */
async function writeNew(file: string, text: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let created = false;
  try {
    await fs.writeFile(temp, text, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      created = err.code !== 'EEXIST'; // a full disk may leave part of it
      throw err;
    });
    created = true;
    await fs.link(temp, file);
  } catch (err) {
    throw diskError(err, file);
  } finally {
    if (created) {
      await fs.unlink(temp).catch(() => undefined);
    }
  }
}

/** One notebook per episode in `target`, all or none: on any failure, the notebooks this call wrote are removed again. */
async function writeNotebooks(target: string, files: [string, string][]): Promise<void> {
  if ((await taken(target)) && !(await fs.stat(target).then(s => s.isDirectory(), () => false))) {
    throw existsError(target);
  }
  const names = new Set<string>();
  for (const [file] of files) {
    if (names.has(file) || (await taken(file))) {
      throw existsError(file);
    }
    names.add(file);
  }
  // The first folder mkdir created (undefined if `target` was there): removed again if nothing is written.
  const createdFolder = await fs.mkdir(target, { recursive: true }).catch((err: unknown) => {
    throw diskError(err, target);
  });
  const written: string[] = [];
  try {
    for (const [file, text] of files) {
      await writeNew(file, text);
      written.push(file);
    }
  } catch (err) {
    for (const file of written) {
      await fs.unlink(file).catch(() => undefined);
    }
    if (createdFolder) {
      // rmdir removes only empty folders: nothing another writer put there meanwhile is lost.
      for (let dir = target; isInside(createdFolder, dir); dir = path.dirname(dir)) {
        await fs.rmdir(dir).catch(() => undefined);
      }
    }
    throw err;
  }
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
  checkPathText(target);
  const episodes = selectEpisodes(stored, filtersFor(format, filters));
  if (episodes.length === 0) {
    throw nothingToExport(stored, format, 0, target);
  }
  const annotations = annotate ? await annotate(episodes) : undefined;
  if (format === 'ipynb') {
    const files = episodes.map((s): [string, string] => [
      path.join(target, `${s.episode.id.replace(/[^A-Za-z0-9._-]/g, '_')}.ipynb`),
      JSON.stringify(redactor.value(toNotebook(s, annotations)), null, 1) + '\n'
    ]);
    await writeNotebooks(target, files);
    return { format, path: target, rows: episodes.length, episodes: episodes.length };
  }
  const rows = redactor.value(exportRows(episodes, format, annotations));
  if (rows.length === 0) {
    throw nothingToExport(stored, format, episodes.length, target);
  }
  if (await taken(target)) {
    throw existsError(target);
  }
  await fs.mkdir(path.dirname(target), { recursive: true }).catch((err: unknown) => {
    throw diskError(err, target);
  });
  await writeNew(target, rows.map(r => JSON.stringify(r)).join('\n') + '\n');
  return { format, path: target, rows: rows.length, episodes: episodes.length };
}
