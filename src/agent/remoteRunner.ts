/**
 * A code runner whose kernel is on the other side of a channel: the agent
 * session's client (the `%%datarus` magic) runs each step in its own kernel,
 * with its own per-cell time limit, and answers with the nbformat outputs it
 * captured. The observation is made from those outputs here, by the loop, as
 * for every other runner, so every front door shows the model the same text.
 */
import type { AgentSessionAnswer, AgentSessionAsk } from '../contract';
import type { CodeRunner, ExecutionResult, NbOutput, RunContext } from './types';

/** Asks the client something and resolves with its answer; rejects when the client is gone. */
export interface RunnerChannel {
  ask(request: AgentSessionAsk, signal?: AbortSignal): Promise<AgentSessionAnswer>;
}

const STATUSES: ReadonlySet<string> = new Set(['ok', 'error', 'timeout', 'aborted']);

export class RemoteRunner implements CodeRunner {
  constructor(private readonly _channel: RunnerChannel) {}

  async run(code: string, context: RunContext): Promise<ExecutionResult> {
    const started = Date.now();
    if (context.signal.aborted) {
      return { status: 'aborted', outputs: [], durationMs: 0 };
    }
    let answer: AgentSessionAnswer;
    try {
      answer = await this._channel.ask({ kind: 'run', code, step: context.step, timeoutMs: context.timeoutMs }, context.signal);
    } catch (err) {
      if (context.signal.aborted) {
        return { status: 'aborted', outputs: [], durationMs: Date.now() - started };
      }
      // The client is gone: its kernel (and the episode's variables) with it.
      const evalue = `the kernel running the episode stopped answering: ${(err as Error)?.message ?? err}`;
      return { status: 'error', outputs: [{ output_type: 'error', ename: 'KernelError', evalue, traceback: [] }], durationMs: Date.now() - started, kernelLost: true };
    }
    if (answer.kind !== 'run' || !STATUSES.has(answer.status) || !Array.isArray(answer.outputs)) {
      throw new Error(`the kernel answered a run with ${JSON.stringify(answer).slice(0, 200)}`);
    }
    return {
      status: answer.status,
      outputs: answer.outputs.filter(isOutput),
      executionCount: answer.executionCount ?? null,
      durationMs: typeof answer.durationMs === 'number' ? answer.durationMs : Date.now() - started
    };
  }

  async inspect(expression: string): Promise<string | null> {
    try {
      const answer = await this._channel.ask({ kind: 'inspect', expression });
      return answer.kind === 'inspect' && typeof answer.value === 'string' ? answer.value : null;
    } catch {
      return null; // as a kernel that cannot answer: the context and hints tell less
    }
  }
}

function isOutput(output: unknown): output is NbOutput {
  return typeof output === 'object' && output !== null && typeof (output as NbOutput).output_type === 'string';
}
