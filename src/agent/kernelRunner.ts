/**
 * Runs code in a kernel reached through `@jupyterlab/services` (from Node or a
 * browser), collecting iopub messages into nbformat outputs the way a notebook
 * cell would. Used for headless episodes and integration tests; the notebook
 * runner in src/lab/ runs code through the open notebook instead.
 */
import type { Kernel, KernelMessage } from '@jupyterlab/services';

import { evaluateSilently } from './inspect';
import { runInterruptible } from './interrupt';
import type { CodeRunner, ExecutionResult, NbOutput, RunContext } from './types';

export class KernelRunner implements CodeRunner {
  constructor(private readonly _kernel: Kernel.IKernelConnection) {}

  async run(code: string, context: RunContext): Promise<ExecutionResult> {
    const started = Date.now();
    const outputs: NbOutput[] = [];
    const future = this._kernel.requestExecute({ code, stop_on_error: true, store_history: true });
    future.onIOPub = msg => collect(outputs, msg);
    const interrupt = () => void this._kernel.interrupt().catch(() => undefined);
    let run: { value: KernelMessage.IExecuteReplyMsg; timedOut: boolean; aborted: boolean };
    try {
      run = await runInterruptible(context, interrupt, () => future.done);
    } catch (err) {
      // The kernel died or restarted while running: say so as the cell's error.
      outputs.push({ output_type: 'error', ename: 'KernelError', evalue: String((err as Error)?.message ?? err), traceback: [] });
      return { status: context.signal.aborted ? 'aborted' : 'error', outputs, durationMs: Date.now() - started, kernelLost: true };
    } finally {
      future.dispose();
    }
    const { value: reply, timedOut, aborted } = run;
    const status = aborted ? 'aborted' : timedOut ? 'timeout' : reply.content.status === 'ok' ? 'ok' : 'error';
    const executionCount = 'execution_count' in reply.content ? reply.content.execution_count : null;
    const kernelLost = ['dead', 'restarting', 'autorestarting'].includes(this._kernel.status);
    return { status, outputs, executionCount, durationMs: Date.now() - started, kernelLost };
  }

  inspect(expression: string): Promise<string | null> {
    return evaluateSilently(this._kernel, expression);
  }
}

/** Adds one iopub message to the outputs, merging consecutive stream text as notebooks do. */
export function collect(outputs: NbOutput[], msg: KernelMessage.IIOPubMessage): void {
  const type = msg.header.msg_type;
  const content = msg.content as any;
  switch (type) {
    case 'stream': {
      const last = outputs[outputs.length - 1];
      if (last?.output_type === 'stream' && last.name === content.name) {
        last.text = String(last.text ?? '') + content.text;
      } else {
        outputs.push({ output_type: 'stream', name: content.name, text: content.text });
      }
      return;
    }
    case 'execute_result':
      outputs.push({ output_type: 'execute_result', data: content.data, metadata: content.metadata, execution_count: content.execution_count });
      return;
    case 'display_data':
      outputs.push({ output_type: 'display_data', data: content.data, metadata: content.metadata });
      return;
    case 'error':
      outputs.push({ output_type: 'error', ename: content.ename, evalue: content.evalue, traceback: content.traceback });
      return;
    case 'clear_output':
      outputs.length = 0;
      return;
    default:
      return;
  }
}
