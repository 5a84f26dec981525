/**
 * The per-cell time limit and the user's Stop, for any code runner: either one
 * interrupts the kernel, and the caller learns which happened.
 */
import type { RunContext } from './types';

export async function runInterruptible<T>(
  context: RunContext,
  interrupt: () => void,
  run: () => Promise<T>
): Promise<{ value: T; timedOut: boolean; aborted: boolean }> {
  let timedOut = false;
  let aborted = false;
  const timer = setTimeout(() => {
    timedOut = true;
    interrupt();
  }, context.timeoutMs);
  const onAbort = () => {
    aborted = true;
    interrupt();
  };
  context.signal.addEventListener('abort', onAbort);
  try {
    const value = await run();
    return { value, timedOut, aborted };
  } finally {
    clearTimeout(timer);
    context.signal.removeEventListener('abort', onAbort);
  }
}
