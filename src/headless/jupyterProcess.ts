/**
 * A Jupyter server (or JupyterLab) as a child process: how the headless
 * commands' private kernel server, the benchmarks and the integration tests
 * all start one. It listens on 127.0.0.1 and a free port (no retries on
 * another: the caller knows where it is), rooted in a folder of its own; its
 * token goes through the environment, never argv. Resolves once its REST API
 * answers with that token.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { collectOutput, stopChild } from './childProcess';

export interface JupyterOptions {
  app?: 'server' | 'lab';
  /** The `jupyter` executable (default: findJupyter()). */
  jupyter?: string;
  /** The server's root folder (default: a new temporary one). */
  root?: string;
  /** The port (default: one that is free). */
  port?: number;
  /** More arguments (`--ServerApp.…=…`). */
  args?: string[];
  /** The whole environment of the server (default this process's); JUPYTER_TOKEN is set on top. */
  env?: NodeJS.ProcessEnv;
  /** Its working folder, where kernels started without a path run (default: the root). */
  cwd?: string;
  /** Keep at most this many characters of the server's output, the latest (default all). */
  keepOutput?: number;
  /** How long it may take to answer (default 180 s). */
  timeoutMs?: number;
}

export interface JupyterProcess {
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  url: string;
  token: string;
  root: string;
  proc: ChildProcess;
  output: () => string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop: (graceMs?: number) => Promise<number | null>;
}

export class JupyterStartError extends Error {
  name = 'JupyterStartError';
}

/** `$DATARUS_JUPYTER`, the checkout's `.venv/bin/jupyter`, or `jupyter` on the PATH. */
export function findJupyter(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DATARUS_JUPYTER) {
    return env.DATARUS_JUPYTER;
  }
  const checkout = path.resolve(__dirname, '..', '..', '.venv', 'bin', 'jupyter');
  return existsSync(checkout) ? checkout : 'jupyter';
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise(resolve => server.close(resolve));
  return port;
}

export async function startJupyter(options: JupyterOptions = {}): Promise<JupyterProcess> {
  const app = options.app ?? 'server';
  const jupyter = options.jupyter ?? findJupyter();
  const root = options.root ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'datarus-jupyter-')));
  const token = randomBytes(18).toString('hex');
  const port = options.port ?? (await freePort());
  const proc = spawn(
    jupyter,
    [
      app,
      '--no-browser',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.root_dir=${root}`,
      '--ServerApp.allow_root=True',
      ...(options.args ?? [])
    ],
    { cwd: options.cwd ?? root, env: { ...(options.env ?? process.env), JUPYTER_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] }
  );
  const output = collectOutput(proc, options.keepOutput);
  let failedToSpawn: Error | null = null;
  proc.once('error', err => (failedToSpawn = err));
  const url = `http://127.0.0.1:${port}`;
  const server: JupyterProcess = {
    url,
    token,
    root,
    proc,
    output,
    stop: async (graceMs = 15000) => {
      await stopChild(proc, graceMs);
      return proc.exitCode;
    }
  };
  const timeoutMs = options.timeoutMs ?? 180000;
  const deadline = Date.now() + timeoutMs;
  const what = `jupyter ${app}`;
  while (!(await fetch(`${url}/api/status`, { headers: { Authorization: `token ${token}` } }).then(r => r.ok, () => false))) {
    if (failedToSpawn) {
      throw new JupyterStartError(`could not start ${jupyter} (${(failedToSpawn as Error).message})`);
    }
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new JupyterStartError(`${what} exited (${proc.exitCode ?? proc.signalCode}):\n${output().slice(-1500)}`);
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new JupyterStartError(`${what} did not answer within ${Math.round(timeoutMs / 1000)} s:\n${output().slice(-1500)}`);
    }
    await new Promise(r => setTimeout(r, 200));
  }
  return server;
}
