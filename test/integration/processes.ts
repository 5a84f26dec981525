/**
 * Real processes for integration tests: a standalone model host and a Jupyter
 * server with the extension, each on a free port, each stopped after the test,
 * started as the product and the benchmarks start them (src/headless/serveProcess.ts,
 * src/headless/jupyterProcess.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { KernelManager } from '@jupyterlab/services';

import type { RunContext } from '../../src/agent/types';
import { freePort, startJupyter as startJupyterProcess } from '../../src/headless/jupyterProcess';
import { startServe } from '../../src/headless/serveProcess';
import { nodeServerSettings } from '../../src/headless/serverSettings';
import { CLI, ROOT, VENV_BIN } from './paths';

export interface Running {
  proc: ChildProcess;
  url: string;
  output: () => string;
  stop: () => Promise<number | null>;
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
  const host = await startServe({ listen: { port: 0 }, args, env: { ...process.env, ...env }, command, cwd: ROOT, stdin: 'pipe' });
  return { proc: host.proc, url: host.address, output: host.output, stop: () => host.stop() };
}

export interface RunningJupyter extends Running {
  token: string;
  rootDir: string;
}

export { freePort };

/** A real Jupyter server with Datarus Lab enabled, the host loading `model`; from `venvBin` (default: the checkout's .venv). */
export async function startJupyter(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}, venvBin = VENV_BIN, app: 'server' | 'lab' = 'server'): Promise<RunningJupyter> {
  const rootDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-jupyter-'));
  const jupyter = await startJupyterProcess({
    app,
    jupyter: path.join(venvBin, 'jupyter'),
    root: rootDir,
    args: extraArgs,
    env: {
      ...process.env,
      PATH: `${venvBin}:${process.env.PATH}`,
      DATARUS_MODEL: 'datarus-test-tiny',
      JUPYTER_CONFIG_DIR: path.join(rootDir, '.jupyter-config'),
      ...env
    }
  });
  return { proc: jupyter.proc, url: jupyter.url, output: jupyter.output, token: jupyter.token, rootDir, stop: () => jupyter.stop() };
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

/** The context of code a test runs in a kernel itself, outside an episode's loop. */
export function runContext(episodeId: string, step: number, timeoutMs = 60000): RunContext {
  return { episodeId, step, signal: new AbortController().signal, timeoutMs, metadata: {} };
}
