/**
 * `datarus serve` as a child process: how the headless commands, the
 * benchmarks and the integration tests all start a model host. It listens on
 * 127.0.0.1 (port 0: a free one) or on a unix socket; its bearer token goes
 * through the environment, never argv (readable by every local user). Resolves
 * once the host listens; what it reports about its model is the caller's to
 * wait for.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

import { collectOutput, stopChild } from './childProcess';

export interface ServeOptions {
  listen: { port: number } | { socket: string };
  /** More `datarus serve` arguments (`--model`, `--threads`, …). */
  args?: string[];
  /** Handed over as $DATARUS_HOST_TOKEN; without it the host takes one from `env` or makes one (printed on stdout). */
  token?: string;
  /** The whole environment of the host (default this process's). */
  env?: NodeJS.ProcessEnv;
  /** What runs the CLI (default: node and the checkout's bin/datarus.js, else the script running now). */
  command?: string[];
  cwd?: string;
  /** 'pipe' keeps stdin open for the host (`--exit-with-stdin` ends it when this process goes). */
  stdin?: 'pipe' | 'ignore';
  /** Keep at most this many characters of the host's output, the latest (default all). */
  keepOutput?: number;
  /** How long the host may take to listen (default 60 s). */
  listenTimeoutMs?: number;
}

export interface ServeProcess {
  proc: ChildProcess;
  /** `http://127.0.0.1:PORT`, or `unix:PATH` for a socket. */
  address: string;
  /** What the host wrote on stdout and stderr so far. */
  output: () => string;
  exited: () => boolean;
  /** Why the host ended, with the end of its output. */
  exitReport: () => string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop: (graceMs?: number) => Promise<number | null>;
}

/** The `datarus` CLI: the checkout's bin/datarus.js, else the script running now (the bundle). */
export function cliEntry(): string {
  const checkout = path.resolve(__dirname, '..', '..', 'bin', 'datarus.js');
  return existsSync(checkout) ? checkout : process.argv[1];
}

/** Why a host process ended, with the end of what it wrote. */
export function hostExitReport(proc: ChildProcess, output: string): string {
  const how = proc.signalCode ? `was killed by ${proc.signalCode}` : `exited with code ${proc.exitCode}`;
  return `the model host ${how}:\n${output.trim().split('\n').slice(-15).join('\n')}`;
}

export async function startServe(options: ServeOptions): Promise<ServeProcess> {
  const listen = 'socket' in options.listen ? ['--socket', options.listen.socket] : ['--port', String(options.listen.port)];
  const [program, ...programArgs] = options.command ?? [process.execPath, cliEntry()];
  const env = { ...(options.env ?? process.env), ...(options.token ? { DATARUS_HOST_TOKEN: options.token } : {}) };
  const proc = spawn(program, [...programArgs, 'serve', ...listen, ...(options.args ?? [])], {
    cwd: options.cwd,
    env,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe']
  });
  const output = collectOutput(proc, options.keepOutput);
  const spawnError = new Promise<Error>(resolve => proc.once('error', resolve));
  let failedToSpawn: Error | null = null;
  void spawnError.then(err => (failedToSpawn = err));
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  const host: ServeProcess = {
    proc,
    address: '',
    output,
    exited,
    exitReport: () => hostExitReport(proc, output()),
    stop: async (graceMs = 15000) => {
      await stopChild(proc, graceMs);
      return proc.exitCode;
    }
  };
  const deadline = Date.now() + (options.listenTimeoutMs ?? 60000);
  for (;;) {
    const address = /listening on (http:\/\/127\.0\.0\.1:\d+|unix:\S+)/.exec(output())?.[1];
    if (address) {
      host.address = address;
      return host;
    }
    if (failedToSpawn) {
      throw new Error(`could not start the model host (${program}): ${(failedToSpawn as Error).message}`);
    }
    if (exited()) {
      throw new Error(host.exitReport());
    }
    if (Date.now() > deadline) {
      await host.stop();
      throw new Error(`the model host did not listen within ${Math.round((options.listenTimeoutMs ?? 60000) / 1000)} s:\n${output()}`);
    }
    await new Promise(r => setTimeout(r, 50));
  }
}
