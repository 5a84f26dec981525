/**
 * A generation's result, and the server-sent events of `POST /api/generate`:
 * `chunk` events with text as it is generated, then one `done` with the
 * result, or `error` when it failed after the stream began.
 */
import type { ErrorEventData } from './errors';

export type StopReason = 'stop' | 'eos' | 'length' | 'abort';

export interface GenerateResult {
  episodeId: string;
  /** The generated text, without the stop string that ended it. */
  text: string;
  stopReason: StopReason;
  /** The stop string that ended generation; an agent appends it to keep the turn exact. */
  stopString: string | null;
  usage: {
    promptTokens: number;
    /** Prompt tokens actually evaluated: the rest came from the episode's KV cache. */
    evaluatedPromptTokens: number;
    completionTokens: number;
  };
  timings: { firstTokenMs: number | null; totalMs: number; tokensPerSecond: number | null };
  /** Where the prompt's state came from, when the host's prompt cache prepared it. */
  warmStart: WarmStart | null;
}

/** How much of a prompt's state a generation found ready instead of evaluating it. */
export interface WarmStart {
  /** Tokens the sequence already held (an earlier step, or a handed-over sequence). */
  reused: number;
  /** Tokens that came from a saved state. */
  loaded: number;
  /** Milliseconds spent waiting for another request's prefill of the same prompt. */
  waitedMs: number;
}

/** The event names of a generation stream. */
export const GENERATE_EVENT = {
  chunk: 'chunk',
  done: 'done',
  error: 'error'
} as const;

export interface GenerateChunk {
  text: string;
}

/** One event of a generation stream: its name and its (JSON) data. */
export type GenerateEvent =
  | { event: typeof GENERATE_EVENT.chunk; data: GenerateChunk }
  | { event: typeof GENERATE_EVENT.done; data: GenerateResult }
  /** A generation that failed after its stream began (before, the answer is a plain JSON error). */
  | { event: typeof GENERATE_EVENT.error; data: ErrorEventData };
