/**
 * The episode log as the commands that read it (`export`, `score --judge`) see
 * it: the file the server extension writes (or `--log FILE`), read with its
 * migrations and redaction, a clear error when there is none, and a note for
 * each line it had to skip.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { Redactor, secretEnvValues } from '../episode/redact';
import type { StoredEpisode } from '../episode/types';
import { defaultEpisodesFile } from '../cli/jupyterDataDir';
import { EpisodeStore } from '../host/episodes/episodeStore';
import { DomainError } from '../host/errors';
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
