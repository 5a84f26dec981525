/**
 * Runs the agent's code through the open notebook: the step's code cell (made
 * by the writer, perhaps edited by the user) runs through JupyterLab's normal
 * execution path in the notebook's live kernel, and its outputs are read back.
 */
import type { CodeCell } from '@jupyterlab/cells';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { evaluateSilently } from '../agent/inspect';
import { runInterruptible } from '../agent/interrupt';
import type { CodeRunner, ExecutionResult, RunContext } from '../agent/types';
import { cellOutputs } from './cellContent';
import { NotebookClosedError, NotebookWriter } from './notebookWriter';

export class NotebookRunner implements CodeRunner {
  constructor(
    private readonly _panel: NotebookPanel,
    private readonly _writer: NotebookWriter
  ) {}

  async run(code: string, context: RunContext): Promise<ExecutionResult> {
    const panel = this._panel;
    if (panel.isDisposed) {
      throw new NotebookClosedError();
    }
    let id = this._writer.codeCellId(context.step);
    if (id === undefined || this._writer.source(id) !== code) {
      id = this._writer.code(context.step, code);
    }
    const cell = panel.content.widgets.find(w => w.model.id === id) as CodeCell | undefined;
    if (!cell) {
      throw new Error('the code cell was deleted before it ran');
    }
    await panel.sessionContext.ready;
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel) {
      throw new Error('the notebook has no kernel: start one and try again');
    }
    const started = Date.now();
    const interrupt = () => void kernel.interrupt().catch(() => undefined);
    const { value: ok, timedOut, aborted } = await runInterruptible(context, interrupt, () =>
      NotebookActions.runCells(panel.content, [cell], panel.sessionContext)
    );
    // Closing the notebook disposes its context and cells before (or without) the panel: any of them means closed.
    const model = panel.content.model;
    if (panel.isDisposed || panel.context.isDisposed || panel.content.isDisposed || !model || model.isDisposed) {
      throw new NotebookClosedError();
    }
    if (cell.isDisposed || !cell.model) {
      throw new Error('the code cell was deleted while it ran');
    }
    const outputs = cellOutputs(cell.model);
    const dead = kernel.isDisposed || kernel.status === 'dead' || kernel.status === 'restarting' || kernel.status === 'autorestarting';
    if (dead && !outputs.some(o => o.output_type === 'error')) {
      outputs.push({ output_type: 'error', ename: 'KernelError', evalue: `the kernel ${kernel.status === 'dead' ? 'died' : 'restarted'} while the cell ran`, traceback: [] });
    }
    const status = aborted ? 'aborted' : timedOut ? 'timeout' : ok && !dead ? 'ok' : 'error';
    return { status, outputs, executionCount: cell.model.executionCount, durationMs: Date.now() - started, kernelLost: dead };
  }

  /** Evaluates silently in the notebook's kernel: nothing appears in the notebook. */
  async inspect(expression: string): Promise<string | null> {
    const kernel = this._panel.isDisposed ? null : this._panel.sessionContext.session?.kernel;
    return kernel ? evaluateSilently(kernel, expression) : null;
  }
}
