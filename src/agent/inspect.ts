/**
 * Asks a kernel for a value without leaving a trace: the expression runs as a
 * `user_expressions` entry of an empty, silent execute request (no cell, no
 * history entry, no execution count), and its `text/plain` comes back. Used to
 * describe DataFrames and data files to the model, from Node and the browser.
 */
import type { Kernel, KernelMessage } from '@jupyterlab/services';

/** The expression's `text/plain`, or null when it raised or the kernel could not answer. */
export async function evaluateSilently(kernel: Kernel.IKernelConnection, expression: string): Promise<string | null> {
  try {
    const future = kernel.requestExecute({ code: '', silent: true, store_history: false, user_expressions: { value: expression } });
    const reply = (await future.done) as KernelMessage.IExecuteReplyMsg;
    const value = (reply.content as { user_expressions?: Record<string, any> }).user_expressions?.value;
    return value?.status === 'ok' && typeof value.data?.['text/plain'] === 'string' ? value.data['text/plain'] : null;
  } catch {
    return null; // a dead kernel, or one that is not Python
  }
}

/**
 * Wraps a Python expression that yields a JSON string so that its repr is the
 * JSON itself: `text/plain` then parses as JSON (a `str`'s repr would add quotes and escapes).
 */
export function asJsonRepr(jsonExpression: string): string {
  return `(lambda j: type('DatarusJSON', (), {'__repr__': lambda self: j})())(${jsonExpression})`;
}
