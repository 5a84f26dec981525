/**
 * What `run`, `eval` and `rollouts` share: their options, the model backend
 * and kernels they start, the episode log, per-turn grammars, data files, and
 * Ctrl-C.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { gatherContext } from '../agent/gatherContext';
import type { AgentLimits } from '../agent/loop';
import type { CodeRunner } from '../agent/types';
import type { Episode } from '../episode/types';
import { Redactor, secretEnvValues } from '../episode/redact';
import { EpisodeStore } from '../host/episodes/episodeStore';
import { defaultEpisodesFile, defaultModelsDir } from '../cli/jupyterDataDir';
import { resolveUserPath } from '../host/models/manifests';
import { DataFile, JupyterEndpoint, KernelPool, parseJupyterUrl } from './kernels';
import { ModelBackend, remoteBackend, startEmbeddedHost } from './models';
import type { ApproveMode } from './approval';
import type { Write } from './progress';

export interface HeadlessOptions {
  model?: string;
  baseUrl?: string[];
  apiKey?: string;
  profile?: string;
  jupyterUrl?: string[];
  token?: string;
  maxSteps?: number;
  maxTokens?: number;
  cellTimeout?: number;
  temperature?: number;
  threads?: number;
  contextSize?: number;
  gpu?: string;
  log: string | false | undefined;
  grammar?: string;
  /** Which steps need approval (src/headless/approval.ts). */
  approve?: ApproveMode;
}

export class UsageError extends Error {
  name = 'UsageError';
}

export function limitsFrom(opts: HeadlessOptions): Partial<AgentLimits> {
  return {
    ...(opts.maxSteps ? { maxSteps: opts.maxSteps } : {}),
    ...(opts.maxTokens ? { maxTokensPerTurn: opts.maxTokens } : {}),
    ...(opts.cellTimeout ? { cellTimeoutMs: opts.cellTimeout * 1000 } : {})
  };
}

/** The model: remote servers when `--base-url` is given, else the embedded host with `--model` (or its default). */
export async function startModel(opts: HeadlessOptions, parallel: number, write: Write): Promise<ModelBackend> {
  const apiKey = opts.apiKey ?? process.env.DATARUS_API_KEY ?? process.env.OPENAI_API_KEY;
  if (opts.baseUrl && opts.baseUrl.length > 0) {
    for (const url of opts.baseUrl) {
      if (!/^https?:\/\//.test(url)) {
        throw new UsageError(`--base-url must be an http(s) URL: ${url}`);
      }
    }
    return remoteBackend({ baseUrls: opts.baseUrl, apiKey, model: opts.model, log: write });
  }
  const model = opts.model ?? process.env.DATARUS_MODEL;
  if (model?.endsWith('.gguf')) {
    // Said before anything starts, in one line: the file the user gave is not there.
    await resolveUserPath(defaultModelsDir(), model).catch((err: Error) => {
      throw new UsageError(`model: ${err.message} (given by ${opts.model ? '--model' : '$DATARUS_MODEL'})`);
    });
  }
  return startEmbeddedHost({
    model,
    threads: opts.threads,
    contextSize: opts.contextSize,
    gpu: opts.gpu,
    maxEpisodes: Math.max(parallel, 1),
    log: write
  });
}

/** Kernels: from `--jupyter-url` servers, else from a private Jupyter server started here. */
export async function startKernels(opts: HeadlessOptions): Promise<KernelPool> {
  const token = opts.token ?? process.env.JUPYTER_TOKEN ?? '';
  if (opts.jupyterUrl && opts.jupyterUrl.length > 0) {
    const endpoints: JupyterEndpoint[] = opts.jupyterUrl.map(u => parseJupyterUrl(u, token));
    return KernelPool.remote(endpoints);
  }
  return KernelPool.local();
}

/** Starts both at once; stops what did start when the other fails. */
export async function startBoth(opts: HeadlessOptions, parallel: number, write: Write): Promise<{ backend: ModelBackend; kernels: KernelPool }> {
  const [backend, kernels] = await Promise.allSettled([startModel(opts, parallel, write), startKernels(opts)]);
  if (backend.status === 'rejected' || kernels.status === 'rejected') {
    if (backend.status === 'fulfilled') {
      await backend.value.close();
    }
    if (kernels.status === 'fulfilled') {
      await kernels.value.close();
    }
    throw backend.status === 'rejected' ? backend.reason : (kernels as PromiseRejectedResult).reason;
  }
  return { backend: backend.value, kernels: kernels.value };
}

/** The episode log the extension writes (or `--log FILE`); null with `--no-log`. */
export async function openLog(opts: HeadlessOptions): Promise<EpisodeStore | null> {
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

/**
 * Per-turn grammars (`--grammar`): `datarus` (the protocol, every turn), a GBNF
 * file (every turn), or a JSON file: a list of GBNF texts, one per turn, or an
 * object of such lists by task id (`"*"` for the others). The host applies
 * them; it is how tests force known turns out of the fixture model.
 */
export type GrammarFor = (taskId: string) => ((turn: number) => string | undefined) | string | undefined;

export async function loadGrammars(value: string | undefined): Promise<GrammarFor> {
  if (!value) {
    return () => undefined;
  }
  if (value === 'datarus') {
    return () => 'datarus';
  }
  const text = await readGrammarFile(value, '--grammar');
  if (!value.endsWith('.json')) {
    return () => text;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--grammar: ${value} is not valid JSON: ${(err as Error).message}`);
  }
  const turns = (list: unknown, where: string) => {
    if (!Array.isArray(list) || list.some(g => typeof g !== 'string')) {
      throw new UsageError(`--grammar: ${where} must be a list of GBNF texts`);
    }
    return (turn: number) => (list as string[])[Math.min(turn, list.length - 1)];
  };
  if (Array.isArray(parsed)) {
    const all = turns(parsed, value);
    return () => all;
  }
  if (parsed && typeof parsed === 'object') {
    const byTask = new Map(Object.entries(parsed).map(([k, v]) => [k, turns(v, `${value} "${k}"`)]));
    return id => byTask.get(id) ?? byTask.get('*');
  }
  throw new UsageError(`--grammar: ${value} must hold a list or an object`);
}

/** A grammar file's text, or a usage error naming the option. */
export async function readGrammarFile(file: string, option: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${option}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * What the model reads before the question, gathered in the episode's kernel
 * exactly as Analyze gathers it in a notebook (no cells: a fresh kernel has none).
 */
export function headlessContext(question: string, runner: CodeRunner): Promise<string> {
  return gatherContext({ question, inspect: runner.inspect ? expression => runner.inspect!(expression) : undefined });
}

/**
 * `file` inside `dir`, or an error: names from a tasks file must not lead out
 * of the data folder (`../secret.csv`, an absolute path).
 */
export function fileInside(dir: string, file: string): string {
  const root = path.resolve(dir);
  const resolved = path.resolve(root, file);
  if (path.isAbsolute(file) || (resolved !== root && !resolved.startsWith(root + path.sep))) {
    throw new UsageError(`the data file "${file}" is outside the data folder ${root}`);
  }
  return resolved;
}

/** The data file of a DABench task, checked: inside the data folder, and there. */
export async function taskDataFiles(fileName: string | undefined, dataDir: string): Promise<DataFile[]> {
  if (!fileName) {
    return [];
  }
  const source = fileInside(dataDir, fileName);
  if (!(await fs.stat(source).then(s => s.isFile(), () => false))) {
    throw new UsageError(`the data file ${fileName} is missing from ${dataDir}`);
  }
  return [{ name: path.basename(fileName), source }];
}

/**
 * Ctrl-C: the first aborts the running episodes (they end as stopped and
 * what is being written is finished); the second leaves at once.
 */
export function interruptible(write: Write): { signal: AbortSignal; interrupted: () => boolean; release: () => void } {
  const abort = new AbortController();
  const onSignal = (name: string) => {
    if (abort.signal.aborted) {
      write(`${name} again: leaving now`);
      process.exit(130);
    }
    write(`${name}: stopping the running episodes (again to leave at once)`);
    abort.abort();
  };
  const onInt = () => onSignal('Ctrl-C');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: abort.signal,
    interrupted: () => abort.signal.aborted,
    release: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  };
}

/** Runs `work` on each item with at most `parallel` at once, in order of the list; stops taking new items once `stop()` says so. */
export async function eachParallel<T>(items: T[], parallel: number, stop: () => boolean, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop()) {
      const item = items[next++];
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, items.length)) }, worker));
}

/** Writes a file whole: to a temporary name beside it, then renamed over. */
export async function writeWhole(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}
