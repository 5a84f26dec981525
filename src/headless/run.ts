/**
 * `datarus run "question" [--data FILE…] [--notebook OUT.ipynb]`: one episode
 * in a fresh kernel whose working folder holds the data files, with live
 * progress on the terminal; the episode goes to the episode log and, when
 * asked, to a notebook that reads like an Analyze run.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { analyzeNotebook } from '../episode/notebookCells';
import type { Episode } from '../episode/types';
import { runEpisode } from './episode';
import type { DataFile } from './kernels';
import { endLine, episodeProgress, Write } from './progress';
import { RunEnd, runEnd } from './runExit';
import { headlessContext } from './context';
import { logEpisode, openLog } from './episodeLog';
import { loadGrammars } from './grammars';
import { interruptible } from './interrupt';
import { HeadlessOptions, limitsFrom } from './options';
import { startBoth } from './start';
import { UsageError } from './usageError';
import { writeWhole } from './writeWhole';

export interface RunOptions extends HeadlessOptions {
  data?: string[];
  notebook?: string;
}

/** Runs the episode, prints its answer (and a caution) on stdout, and says which exit code fits (runExit.ts). */
export async function runCommand(question: string, opts: RunOptions, write: Write): Promise<{ episode: Episode; end: RunEnd }> {
  if (question.trim() === '') {
    throw new UsageError('the question is empty');
  }
  const files: DataFile[] = [];
  for (const file of opts.data ?? []) {
    const stat = await fs.stat(file).catch(() => null);
    if (!stat?.isFile()) {
      throw new UsageError(`--data: ${file} is not a file`);
    }
    files.push({ name: path.basename(file), source: path.resolve(file) });
  }
  const names = files.map(f => f.name);
  if (new Set(names).size !== names.length) {
    throw new UsageError('--data: two files have the same name; the kernel sees files by name');
  }
  const notebook = opts.notebook ? path.resolve(opts.notebook) : null;
  if (notebook && (await fs.stat(notebook).then(() => true, () => false))) {
    throw new UsageError(`--notebook: ${notebook} exists; it is not overwritten`);
  }
  const grammars = await loadGrammars(opts.grammar);
  const store = await openLog(opts);
  const ctrlC = interruptible(write);
  const { backend, kernels } = await startBoth(opts, 1, write);
  write(`model: ${backend.describe}; kernels: ${kernels.urls.join(', ')}${kernels.networkNote ? ` (${kernels.networkNote})` : ''}`);
  if (opts.profile && opts.profile !== backend.profile) {
    write(`prompt profile: ${opts.profile} (--profile)${backend.profile ? `, not the model's ${backend.profile}` : ''}`);
  }
  try {
    const lease = await kernels.open('run', files);
    let episode: Episode;
    try {
      const progress = episodeProgress(write);
      ({ episode } = await runEpisode(backend.model, lease.runner, {
        episodeId: randomUUID(),
        question,
        context: await headlessContext(question, lease.runner),
        profile: opts.profile ?? backend.profile,
        notebook: notebook ? path.basename(notebook) : undefined,
        limits: limitsFrom(opts),
        temperature: opts.temperature,
        grammar: grammars('run'),
        signal: ctrlC.signal,
        hooks: progress.hooks,
        onTurn: progress.onTurn,
        approve: opts.approve
      }));
    } finally {
      await lease.dispose();
    }
    const ending = endLine(episode);
    if (ending) {
      write(ending);
    }
    await logEpisode(store, episode, write);
    if (store) {
      write(`episode ${episode.id} logged to ${store.file}`);
    }
    if (notebook) {
      await writeWhole(notebook, JSON.stringify(analyzeNotebook(episode), null, 1) + '\n');
      write(`notebook: ${notebook}`);
    }
    const end = runEnd(episode, ctrlC.interrupted());
    for (const line of end.stdout) {
      process.stdout.write(`${line}\n`);
    }
    return { episode, end };
  } finally {
    ctrlC.release();
    await kernels.close();
    await backend.close();
  }
}
