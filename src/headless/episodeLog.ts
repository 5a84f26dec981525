/**
 * The episode log the server extension writes (or `--log FILE`): as the
 * commands that read it (`export`, `score --judge`) see it, read with its
 * migrations and redaction, a clear error when there is none, and a note for
 * each line it had to skip; and as the headless commands append to it.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { Redactor, secretEnvValues } from '../episode/redact';
import type { Episode, StoredEpisode } from '../episode/types';
import { defaultEpisodesFile } from './jupyterDataDir';
import { EpisodeStore } from '../host/episodes/episodeStore';
import { DomainError } from '../host/errors';
import type { HeadlessOptions } from './options';
import type { Write } from './progress';

export interface LoggedEpisodes {
  file: string;
  episodes: StoredEpisode[];
  redactor: Redactor;
}

export async function readEpisodeLog(log: string | undefined, write: Write, whatFor = 'nothing was exported'): Promise<LoggedEpisodes> {
  const file = path.resolve(log ?? (await defaultEpisodesFile()));
  const exists = await fs.stat(file).then(
    s => s.isFile(),
    () => false
  );
  if (!exists) {
    throw new DomainError(
      'no_log',
      `no episode log at ${file}: ${whatFor}. Episodes are logged when "Log episodes" is on in ` +
        "JupyterLab's Settings → Datarus Lab: Analyze; pass --log FILE if the log is elsewhere."
    );
  }
  const store = new EpisodeStore(file, { redactor: new Redactor(secretEnvValues(process.env)), images: 'reference', maxOutputChars: 20000 });
  const { episodes, skipped, migrated } = await store.read();
  for (const s of skipped) {
    write(`warning: ${file} line ${s.line} skipped: ${s.reason}`);
  }
  if (migrated) {
    write(`note: ${migrated} line(s) of an older log format were migrated on read (the log itself is unchanged)`);
  }
  return { file, episodes, redactor: store.redactor };
}

/** The episode log the extension writes (or `--log FILE`); null with `--no-log`. */
export async function openLog(opts: Pick<HeadlessOptions, 'log'>): Promise<EpisodeStore | null> {
  if (opts.log === false) {
    return null;
  }
  const file = path.resolve(opts.log ?? (await defaultEpisodesFile()));
  return new EpisodeStore(file, { redactor: new Redactor(secretEnvValues(process.env)), images: 'reference', maxOutputChars: 20000 });
}

/** Appends an episode to the log; a failure to log is reported, not fatal (the results are written apart). */
export async function logEpisode(store: EpisodeStore | null, episode: Episode, write: Write): Promise<void> {
  if (!store || (episode.steps.length === 0 && !episode.answer)) {
    return;
  }
  await store.appendEpisode(episode).catch((err: Error) => write(`warning: ${err.message}`));
}
