/** Stopping the child processes the headless commands start (a Jupyter server, the model host). */
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
