/** Processes the agent benchmarks run against: a standalone model host and a plain Jupyter server for kernels. */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { HostStatus } from '../contract';
import { freePort } from './util';

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

/** Why a host process ended, with the end of what it wrote on stderr. */
export function hostExitReport(proc: ChildProcess, stderr: string): string {
  const how = proc.signalCode ? `was killed by ${proc.signalCode}` : `exited with code ${proc.exitCode}`;
  return `the model host ${how}:\n${stderr.trim().split('\n').slice(-15).join('\n')}`;
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
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin', 'datarus.js'), 'serve', '--port', '0', '--model', model, ...extraArgs], {
    cwd: ROOT,
    // The token goes through the environment: argv is readable by every user (ps, /proc).
    env: { ...benchHostEnv(), DATARUS_HOST_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  let err = '';
  proc.stderr!.on('data', d => (err += d));
  const deadline = Date.now() + timeoutMs;
  let url: string | null = null;
  while (!url) {
    url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err)?.[1] ?? null;
    if (exited()) {
      throw new Error(hostExitReport(proc, err));
    }
    if (Date.now() > deadline) {
      throw new Error(`host did not start:\n${err}`);
    }
    await sleep(50);
  }
  const base = url;
  const request = (p: string, init: RequestInit = {}) =>
    fetch(`${base}/api/${p}`, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${token}` } });
  const host: BenchHost = {
    url: base,
    token,
    proc,
    request,
    stop: async () => {
      if (proc.exitCode === null) {
        const gone = new Promise(resolve => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await gone;
      }
    }
  };
  try {
    for (;;) {
      // A host that exits while loading (a model it cannot find) says why, not "fetch failed".
      const status = (await request('status')
        .then(r => r.json())
        .catch(async fetchError => {
          await sleep(500); // the refused connection may come before the exit event
          throw new Error(exited() ? hostExitReport(proc, err) : `the model host did not answer: ${(fetchError as Error).message}`);
        })) as HostStatus;
      whileLoading?.(status);
      if (status.state === 'ready') {
        return host;
      }
      if (status.state === 'idle' || status.state === 'error' || Date.now() > deadline) {
        throw new Error(`model did not load: ${status.error}\n${err.trim().split('\n').slice(-15).join('\n')}`);
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
  const port = options.port ?? (await freePort());
  const token = randomBytes(12).toString('hex');
  const root = options.root ?? mkdtempSync(path.join(os.tmpdir(), 'datarus-bench-'));
  const proc = spawn(
    path.join(ROOT, '.venv', 'bin', 'jupyter'),
    [app, '--no-browser', `--ServerApp.port=${port}`, '--ServerApp.ip=127.0.0.1', `--ServerApp.root_dir=${root}`, '--ServerApp.allow_root=True', ...(options.args ?? [])],
    {
      // The checkout's models (models/cache), as scripts/lab.sh uses them, unless the caller says otherwise.
      // The token in the environment, not on the command line that every local user can read.
      env: { ...process.env, DATARUS_MODELS_DIR: path.join(ROOT, 'models', 'cache'), ...options.env, PATH: `${path.join(ROOT, '.venv', 'bin')}:${process.env.PATH}`, JUPYTER_TOKEN: token },
      // The server's own log (and the host's, which it relays) when the caller wants to read it afterwards.
      stdio: options.logFile ? ['ignore', openSync(options.logFile, 'a'), openSync(options.logFile, 'a')] : 'ignore'
    }
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120000;
  while (!(await fetch(`${url}/api/status`, { headers: { Authorization: `token ${token}` } }).then(r => r.ok, () => false))) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill();
      throw new Error(`jupyter ${app} did not start`);
    }
    await sleep(200);
  }
  return { url, token, root, proc, stop: () => void proc.kill('SIGTERM') };
}

export type KernelServer = JupyterProcess;

/** A Jupyter server used only for its kernels (nothing asks it for the Datarus host, so it starts none). */
export function startKernelServer(): Promise<KernelServer> {
  return spawnJupyter('server');
}

/** A notebook with one code cell and the python3 kernel, for the browser benchmarks. */
export function writeBenchNotebook(file: string): void {
  writeFileSync(
    file,
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' } },
      cells: [{ id: 'first', cell_type: 'code', metadata: {}, source: 'x = 1', outputs: [], execution_count: null }]
    })
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise(r => setTimeout(r, ms));
}
