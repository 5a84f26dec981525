/**
 * Real processes for integration tests: a standalone model host and a Jupyter
 * server with the extension, each on a free port, each stopped after the test.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { KernelManager } from '@jupyterlab/services';

import { nodeServerSettings } from '../../src/headless/serverSettings';
import { CLI, ROOT, VENV_BIN } from './paths';

export interface Running {
  proc: ChildProcess;
  url: string;
  output: () => string;
  stop: () => Promise<number | null>;
}

function collect(proc: ChildProcess): () => string {
  let text = '';
  proc.stdout?.on('data', d => (text += d.toString()));
  proc.stderr?.on('data', d => (text += d.toString()));
  return () => text;
}

async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return proc.exitCode;
  }
  const exited = once(proc, 'exit');
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15000);
  const [code] = await exited;
  clearTimeout(timer);
  return code as number | null;
}

/** Waits until `predicate` on the output holds, or the process exits, or time runs out. */
export async function waitForOutput(proc: ChildProcess, output: () => string, predicate: (text: string) => boolean, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate(output())) {
    if (proc.exitCode !== null) {
      throw new Error(`process exited (${proc.exitCode}) before it was ready:\n${output()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for the process:\n${output()}`);
    }
    await new Promise(r => setTimeout(r, 50));
  }
}

/** `datarus serve` on 127.0.0.1 and a free port; `command` runs the CLI (default: the checkout's). */
export async function startHost(args: string[], env: NodeJS.ProcessEnv = {}, command: string[] = [process.execPath, CLI]): Promise<Running> {
  const proc = spawn(command[0], [...command.slice(1), 'serve', '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe']
  });
  const output = collect(proc);
  await waitForOutput(proc, output, text => /listening on http:\/\/127\.0\.0\.1:\d+/.test(text));
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output())![1];
  return { proc, url, output, stop: () => stopProcess(proc) };
}

export interface RunningJupyter extends Running {
  token: string;
  rootDir: string;
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** A real Jupyter server with Datarus Lab enabled, the host loading `model`; from `venvBin` (default: the checkout's .venv). */
export async function startJupyter(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}, venvBin = VENV_BIN, app: 'server' | 'lab' = 'server'): Promise<RunningJupyter> {
  const token = `test-${Math.random().toString(36).slice(2)}`;
  const rootDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-jupyter-'));
  const port = await freePort();
  const proc = spawn(
    path.join(venvBin, 'jupyter'),
    [
      app,
      '--no-browser',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.root_dir=${rootDir}`,
      '--ServerApp.allow_root=True',
      ...extraArgs
    ],
    {
      cwd: rootDir,
      env: {
        ...process.env,
        PATH: `${venvBin}:${process.env.PATH}`,
        DATARUS_MODEL: 'datarus-test-tiny',
        JUPYTER_CONFIG_DIR: path.join(rootDir, '.jupyter-config'),
        ...env,
        // Not on the command line, as the product does it.
        JUPYTER_TOKEN: token
      },
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  const output = collect(proc);
  await waitForOutput(proc, output, text => text.includes(`http://127.0.0.1:${port}/`));
  const url = `http://127.0.0.1:${port}`;
  // The URL is printed once the server listens; make sure it answers before tests use it.
  const deadline = Date.now() + 30000;
  for (;;) {
    const answer = await fetch(`${url}/api`).then(
      r => r.status,
      () => 0
    );
    if (answer === 200) {
      break;
    }
    if (proc.exitCode !== null || Date.now() > deadline) {
      throw new Error(`Jupyter on port ${port} did not answer (exit ${proc.exitCode}):\n${output()}`);
    }
    await new Promise(r => setTimeout(r, 100));
  }
  return { proc, url, output, token, rootDir, stop: () => stopProcess(proc) };
}

/** fetch with a JSON answer, never throwing on HTTP errors. */
export async function getJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: response.status, body };
}

/** Polls until the host's status satisfies `done`. */
// A model load measures thread counts first: on a busy shared machine that alone can take minutes.
export async function waitForStatus(get: () => Promise<{ status: number; body: any }>, done: (body: any) => boolean, timeoutMs = 240000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: { status: number; body: any } | null = null;
  while (Date.now() < deadline) {
    try {
      last = await get();
    } catch (err) {
      last = { status: 0, body: String(err) };
    }
    if (last.status === 200 && done(last.body)) {
      return last.body;
    }
    await new Promise(r => setTimeout(r, 200));
  }
  throw new Error(`status never became ready: ${JSON.stringify(last)}`);
}

/**
 * A Jupyter server with the extension and a kernel manager on it, returned once
 * its Datarus host is ready (generous: on a busy machine the host's thread
 * measurement alone can take a minute).
 */
export async function startJupyterWithKernels(extraArgs: string[] = []): Promise<{ jupyter: RunningJupyter; kernels: KernelManager }> {
  const jupyter = await startJupyter(extraArgs);
  const kernels = new KernelManager({ serverSettings: await nodeServerSettings(jupyter.url, jupyter.token) });
  await waitForStatus(
    () => getJson(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } }),
    s => s.state === 'ready',
    240000
  );
  return { jupyter, kernels };
}

/** Shuts the kernels down and stops the server (either may be missing when the set-up failed). */
export async function stopJupyterWithKernels(jupyter: RunningJupyter | undefined, kernels: KernelManager | undefined): Promise<void> {
  await kernels?.shutdownAll().catch(() => undefined);
  kernels?.dispose();
  await jupyter?.stop();
}
