/**
 * The agent's two collaborators, as interfaces: a model that writes one turn,
 * and a code runner that executes code and returns notebook outputs. The loop
 * (loop.ts) depends on nothing else, so the same loop drives a notebook in the
 * browser and a kernel from Node.
 */
import type { StopReason } from '../contract';
import type { NbOutput } from '../episode/types';
import type { ChatMessage } from './messages';

/** Notebook outputs are part of the episode record; re-exported here for the agent's users. */
export type { NbOutput };

export interface ExecutionResult {
  /** `timeout`: interrupted after the per-cell limit; `aborted`: the user stopped it. */
  status: 'ok' | 'error' | 'timeout' | 'aborted';
  outputs: NbOutput[];
  executionCount?: number | null;
  /** Milliseconds spent in the kernel. */
  durationMs: number;
  /** The kernel died or restarted while the code ran: its state is gone. */
  kernelLost?: boolean;
}

export interface RunContext {
  episodeId: string;
  step: number;
  signal: AbortSignal;
  /** Per-cell time limit in milliseconds; the runner interrupts the kernel past it. */
  timeoutMs: number;
  /** Provenance the runner may attach to what it creates (a notebook cell's metadata). */
  metadata: Record<string, unknown>;
}

export interface CodeRunner {
  run(code: string, context: RunContext): Promise<ExecutionResult>;
  /**
   * The `text/plain` of a Python expression evaluated silently in the same
   * kernel (no cell, no history), or null when it cannot be; for hints such
   * as a frame's real columns after a KeyError. Optional: runners without it give no hints.
   */
  inspect?(expression: string): Promise<string | null>;
}

export interface ModelTurnRequest {
  episodeId: string;
  messages: ChatMessage[];
  stop: string[];
  maxTokens?: number;
  temperature?: number;
  /** GBNF text or `datarus`; remote OpenAI-compatible servers ignore it. */
  grammar?: string;
  signal?: AbortSignal;
}

export interface ModelTurn {
  text: string;
  /** The stop string that ended the turn, to append so the turn is exact tag text. */
  stopString: string | null;
  stopReason: StopReason;
  completionTokens?: number;
  tokensPerSecond?: number | null;
}

/** A prompt's size in tokens and the context it must fit, as the model side counts them. */
export interface PromptCount {
  tokens: number;
  contextSize: number;
}

export interface AgentModel {
  readonly name: string;
  /**
   * Counts a prompt's tokens (null when this model cannot); the loop keeps its
   * conversation within the context with it, and estimates from characters without it.
   */
  countTokens?(episodeId: string, messages: ChatMessage[]): Promise<PromptCount | null>;
  complete(request: ModelTurnRequest, onText: (text: string) => void): Promise<ModelTurn>;
  /**
   * Whether a last assistant message in a request's `messages` is continued
   * (written on from its end) rather than answered; the loop then starts the
   * turn of a model stuck on failing code for it. Default: false.
   */
  readonly continuesTurns?: boolean;
  /** Frees what the model side keeps for an episode (its KV cache). */
  endEpisode?(episodeId: string): Promise<void>;
}
