/** What `run`, `eval` and `rollouts` are given (src/cli/headlessCommands.ts declares the options), and the agent limits they set. */
import type { AgentLimits } from '../agent/loop';
import type { ApproveMode } from './approval';

export interface HeadlessOptions {
  model?: string;
  baseUrl?: string[];
  apiKey?: string;
  profile?: string;
  jupyterUrl?: string[];
  token?: string;
  maxSteps?: number;
  maxTokens?: number;
  cellTimeout?: number;
  temperature?: number;
  threads?: number;
  contextSize?: number;
  gpu?: string;
  log: string | false | undefined;
  grammar?: string;
  /** Which steps need approval (src/headless/approval.ts). */
  approve?: ApproveMode;
  /** The private Jupyter's kernels may reach the network (default: they get none where the OS allows). */
  kernelNetwork?: boolean;
}

export function limitsFrom(opts: HeadlessOptions): Partial<AgentLimits> {
  return {
    ...(opts.maxSteps ? { maxSteps: opts.maxSteps } : {}),
    ...(opts.maxTokens ? { maxTokensPerTurn: opts.maxTokens } : {}),
    ...(opts.cellTimeout ? { cellTimeoutMs: opts.cellTimeout * 1000 } : {})
  };
}
