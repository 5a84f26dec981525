/**
 * The episode log: a JSONL file, one record a line (an episode, a thumbs up or
 * down, an edit of an agent's cell), appended and never rewritten.
 *
 * Crash safety: each record is one `write` of a whole line to a file opened for
 * appending, then `fdatasync`; a process killed mid-write can leave only a
 * partial last line, which the reader detects and skips, and the next append
 * starts on a fresh line. Secrets are redacted and outputs capped before
 * anything is written.
 */
import { promises as fs } from 'node:fs';
import { createHash } from 'node:crypto';

import type { Episode, NbOutput, StoredEpisode } from '../../episode/types';
import { Redactor } from '../../episode/redact';
import { LOG_SCHEMA_VERSION, migrate, validateLogRecord } from '../../episode/schema';
import { DomainError } from '../errors';
import { appendJsonLine } from './jsonl';

export type ImagePolicy = 'reference' | 'drop';

export type LogRecord =
  | { v: number; type: 'episode'; at: string; episode: Episode }
  | { v: number; type: 'feedback'; at: string; episodeId: string; step: number | null; rating: 'up' | 'down' }
  | { v: number; type: 'edit'; at: string; episodeId: string; step: number; original: string; edited: string };


export interface ReadResult {
  episodes: StoredEpisode[];
  /** Lines that could not be read: a cut-off tail, invalid JSON, a newer schema. */
  skipped: { line: number; reason: string }[];
  migrated: number;
}

export interface StoreOptions {
  redactor: Redactor;
  images: ImagePolicy;
  /** Characters kept of each text output. */
  maxOutputChars: number;
}

/** The log could not take or give a record; the code says whose fault (a bad record, a full disk, the log). */
export class LogError extends DomainError {
  name = 'LogError';
  constructor(message: string, code: 'invalid_request' | 'disk_full' | 'log_failed' = 'log_failed') {
    super(code, message);
  }
}

export class EpisodeStore {
  constructor(
    readonly file: string,
    private readonly _options: StoreOptions
  ) {}

  /** The redactor applied to what is written; exports apply it again. */
  get redactor(): Redactor {
    return this._options.redactor;
  }

  async appendEpisode(episode: Episode): Promise<void> {
    if (episode.steps.length === 0 && !episode.answer) {
      throw new LogError('the episode has no steps and no answer: nothing to log', 'invalid_request');
    }
    await this._append({ v: LOG_SCHEMA_VERSION, type: 'episode', at: new Date().toISOString(), episode: this._clean(episode) });
  }

  async appendFeedback(episodeId: string, step: number | null, rating: 'up' | 'down'): Promise<void> {
    await this._append({ v: LOG_SCHEMA_VERSION, type: 'feedback', at: new Date().toISOString(), episodeId, step, rating });
  }

  async appendEdit(episodeId: string, step: number, original: string, edited: string): Promise<void> {
    const r = this._options.redactor;
    await this._append({ v: LOG_SCHEMA_VERSION, type: 'edit', at: new Date().toISOString(), episodeId, step, original: r.text(original), edited: r.text(edited) });
  }

  async read(): Promise<ReadResult> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return { episodes: [], skipped: [], migrated: 0 };
      }
      throw new LogError(`the episode log ${this.file} could not be read: ${(err as Error).message}`);
    }
    const lines = text.split('\n');
    const skipped: ReadResult['skipped'] = [];
    let migrated = 0;
    const byId = new Map<string, StoredEpisode>();
    const pending: Exclude<LogRecord, { type: 'episode' }>[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === '') {
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        skipped.push({ line: i + 1, reason: i === lines.length - 1 ? 'cut-off last line (a write was interrupted)' : 'not valid JSON' });
        return;
      }
      const result = migrate(parsed);
      if ('error' in result) {
        skipped.push({ line: i + 1, reason: result.error });
        return;
      }
      if (result.record !== parsed) {
        migrated++;
      }
      if (!validateLogRecord(result.record)) {
        skipped.push({ line: i + 1, reason: `does not match the log schema: ${validateLogRecord.errors?.[0]?.instancePath} ${validateLogRecord.errors?.[0]?.message}` });
        return;
      }
      const record = result.record as LogRecord;
      if (record.type === 'episode') {
        // A later record of the same episode (say, logged again after a stop) replaces the earlier.
        const previous = byId.get(record.episode.id);
        byId.set(record.episode.id, { episode: record.episode, feedback: previous?.feedback ?? [], edits: previous?.edits ?? [] });
      } else {
        pending.push(record);
      }
    });
    for (const record of pending) {
      const target = byId.get(record.episodeId);
      if (!target) {
        continue;
      }
      if (record.type === 'feedback') {
        target.feedback.push({ step: record.step, rating: record.rating, at: record.at });
      } else if (record.type === 'edit') {
        target.edits.push({ step: record.step, original: record.original, edited: record.edited, at: record.at });
      }
    }
    return { episodes: [...byId.values()], skipped, migrated };
  }

  private async _append(record: LogRecord): Promise<void> {
    if (!validateLogRecord(record)) {
      throw new LogError(`refusing to log an invalid record: ${validateLogRecord.errors?.[0]?.instancePath} ${validateLogRecord.errors?.[0]?.message}`, 'invalid_request');
    }
    try {
      await appendJsonLine(this.file, record);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw new LogError(`the disk is full: the episode was not logged (${this.file}); the notebook is not affected`, 'disk_full');
      }
      throw new LogError(`the episode could not be logged to ${this.file}: ${(err as Error).message}`);
    }
  }

  /** Redacts, caps outputs and handles images per the policy. */
  private _clean(episode: Episode): Episode {
    const { redactor, images, maxOutputChars } = this._options;
    const capped: Episode = {
      ...episode,
      steps: episode.steps.map(step => ({ ...step, outputs: step.outputs?.map(o => capOutput(o, images, maxOutputChars)).filter((o): o is NbOutput => o !== null) }))
    };
    return redactor.value(capped);
  }
}

function capText(text: unknown, max: number): unknown {
  const joined = Array.isArray(text) ? text.join('') : text;
  if (typeof joined !== 'string' || joined.length <= max) {
    return text;
  }
  return `${joined.slice(0, max)}\n… [${joined.length - max} characters not logged]`;
}

/** Keeps text capped; replaces image data by a reference (mime, size, sha256) or drops it. */
function capOutput(output: NbOutput, images: ImagePolicy, max: number): NbOutput | null {
  const out: NbOutput = { ...output };
  if (out.text !== undefined) {
    out.text = capText(out.text, max) as string;
  }
  if (out.traceback) {
    out.traceback = out.traceback.map(line => capText(line, max) as string);
  }
  if (out.data) {
    const data: Record<string, unknown> = {};
    for (const [mime, value] of Object.entries(out.data)) {
      if (mime.startsWith('image/')) {
        if (images === 'reference' && typeof value === 'string') {
          data[mime] = { reference: { sha256: createHash('sha256').update(value).digest('hex'), base64Length: value.length } };
        }
        continue;
      }
      data[mime] = capText(value, max);
    }
    if (Object.keys(data).length === 0) {
      return null;
    }
    out.data = data;
  }
  return out;
}
