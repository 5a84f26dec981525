/** The child processes the headless library starts (a Jupyter server, the model host): their output, and stopping them. */
import type { ChildProcess } from 'node:child_process';

/** SIGTERM, then SIGKILL after `graceMs` if it has not exited; resolves once it has. */
export async function stopChild(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) {
    return;
  }
  const exited = new Promise(resolve => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** What `proc` writes on stdout and stderr, the latest `keep` characters of it (default all). */
export function collectOutput(proc: ChildProcess, keep = Infinity): () => string {
  let text = '';
  const add = (d: Buffer) => {
    text += d.toString();
    if (text.length > keep) {
      text = text.slice(-keep);
    }
  };
  proc.stdout?.on('data', add);
  proc.stderr?.on('data', add);
  return () => text;
}
