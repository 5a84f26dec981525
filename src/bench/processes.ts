/** Processes the agent benchmarks run against: a standalone model host and a plain Jupyter server for kernels. */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { HostStatus } from '../contract';
import { startJupyter } from '../headless/jupyterProcess';
import { startServe } from '../headless/serveProcess';

const ROOT = path.resolve(__dirname, '..', '..');

/** The checkout's models, where scripts/setup.sh puts them. */
export const CHECKOUT_MODELS_DIR = path.join(ROOT, 'models', 'cache');

/**
 * The environment a benchmark's host runs in: the checkout's models folder unless $DATARUS_MODELS_DIR
 * names another, as scripts/lab.sh and scripts/test.sh do (the host's own default is Jupyter's data folder).
 */
export function benchHostEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, DATARUS_MODELS_DIR: env.DATARUS_MODELS_DIR || CHECKOUT_MODELS_DIR };
}

export interface BenchHost {
  url: string;
  token: string;
  proc: ChildProcess;
  /** `fetch` on the host's `/api/<path>` with its bearer token. */
  request: (p: string, init?: RequestInit) => Promise<Response>;
  stop: () => Promise<void>;
}

export interface BenchHostOptions {
  /** Called with each status while the model loads; what it throws stops the host and is rethrown. */
  whileLoading?: (status: HostStatus) => void;
  timeoutMs?: number;
}

/** `datarus serve` with `model` loaded, on a free port. */
export async function startBenchHost(model: string, extraArgs: string[] = [], { whileLoading, timeoutMs = 300000 }: BenchHostOptions = {}): Promise<BenchHost> {
  const token = randomBytes(12).toString('hex');
  const served = await startServe({
    listen: { port: 0 },
    args: ['--model', model, ...extraArgs],
    token,
    env: benchHostEnv(),
    command: [process.execPath, path.join(ROOT, 'bin', 'datarus.js')],
    cwd: ROOT,
    listenTimeoutMs: timeoutMs
  });
  const { proc, exited } = served;
  const base = served.address;
  const deadline = Date.now() + timeoutMs;
  const request = (p: string, init: RequestInit = {}) =>
    fetch(`${base}/api/${p}`, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${token}` } });
  const host: BenchHost = {
    url: base,
    token,
    proc,
    request,
    stop: async () => {
      await served.stop(60000);
    }
  };
  try {
    for (;;) {
      // A host that exits while loading (a model it cannot find) says why, not "fetch failed".
      const status = (await request('status')
        .then(r => r.json())
        .catch(async fetchError => {
          await sleep(500); // the refused connection may come before the exit event
          throw new Error(exited() ? served.exitReport() : `the model host did not answer: ${(fetchError as Error).message}`);
        })) as HostStatus;
      whileLoading?.(status);
      if (status.state === 'ready') {
        return host;
      }
      if (status.state === 'idle' || status.state === 'error' || Date.now() > deadline) {
        throw new Error(`model did not load: ${status.error}\n${served.output().trim().split('\n').slice(-15).join('\n')}`);
      }
      await sleep(100);
    }
  } catch (err) {
    await host.stop();
    throw err;
  }
}

export interface JupyterProcess {
  url: string;
  token: string;
  /** The server's root folder. */
  root: string;
  proc: ChildProcess;
  stop: () => void;
}

/**
 * `jupyter server` or `jupyter lab` from the checkout's venv on 127.0.0.1 and a free port, rooted in
 * `root` (default: a new temporary folder), on `port` when given (a shared machine gives each developer one);
 * resolves once its REST API answers.
 */
export async function spawnJupyter(
  app: 'server' | 'lab',
  options: { root?: string; args?: string[]; env?: NodeJS.ProcessEnv; port?: number; logFile?: string } = {}
): Promise<JupyterProcess> {
  const started = await startJupyter({
    app,
    jupyter: path.join(ROOT, '.venv', 'bin', 'jupyter'),
    root: options.root ?? mkdtempSync(path.join(os.tmpdir(), 'datarus-bench-')),
    args: options.args,
    port: options.port,
    // The checkout's models (models/cache), as scripts/lab.sh uses them, unless the caller says otherwise.
    env: { ...process.env, DATARUS_MODELS_DIR: path.join(ROOT, 'models', 'cache'), ...options.env, PATH: `${path.join(ROOT, '.venv', 'bin')}:${process.env.PATH}` },
    // Where the bench runs from, as before: kernels started without a path run there.
    cwd: process.cwd(),
    timeoutMs: 120000
  });
  if (options.logFile) {
    // The server's own log (and the host's, which it relays) when the caller wants to read it afterwards.
    const log = createWriteStream(options.logFile, { flags: 'a' });
    started.proc.stdout?.pipe(log);
    started.proc.stderr?.pipe(log);
  }
  return { url: started.url, token: started.token, root: started.root, proc: started.proc, stop: () => void started.stop() };
}

export type KernelServer = JupyterProcess;

/** A Jupyter server used only for its kernels (nothing asks it for the Datarus host, so it starts none). */
export function startKernelServer(): Promise<KernelServer> {
  return spawnJupyter('server');
}

/** A notebook with one code cell (`source`) and the python3 kernel, for the browser benchmarks. */
export function writeBenchNotebook(file: string, source = 'x = 1'): void {
  writeFileSync(
    file,
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' } },
      cells: [{ id: 'first', cell_type: 'code', metadata: {}, source, outputs: [], execution_count: null }]
    })
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise(r => setTimeout(r, ms));
}
