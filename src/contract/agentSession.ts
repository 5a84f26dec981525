/**
 * Agent sessions (`/api/agent/sessions`): the agent loop run by the host for a
 * client that executes the code itself (the `%%datarus` magic, in the user's
 * own kernel). The host streams what happens as numbered events the client
 * reads by long polling; an event that asks something (`run`, `inspect`,
 * `approve`) waits for the client's answer, posted with the event's `ask` id.
 * Types and constants only.
 */
import type { Episode, EpisodeStep, NbOutput, RejectedAnswer } from '../episode/types';

/** `POST agent/sessions` */
export interface AgentSessionRequest {
  question: string;
  maxSteps?: number;
  /**
   * `ask`: an `approve` event before each step; `auto` (default): steps run as written, except one the
   * code policy flags, which is asked about when `canAsk`, else refused (the model is told why).
   */
  approval?: 'ask' | 'auto';
  /** Whether the client can ask its user (the kernel's stdin allows `input()`); default false. */
  canAsk?: boolean;
  temperature?: number;
  /** A model the host has loaded (or loads when it has none); with `baseUrl`, the remote server's model. */
  model?: string;
  /** An OpenAI-compatible server to write the turns instead of the host's own model. */
  baseUrl?: string;
  apiKey?: string;
  /** Whether the episode goes to the host's episode log (default: when the host has one). */
  log?: boolean;
  /** Data files (paths as the kernel reads them) to describe to the model, whatever the question names. */
  dataFiles?: string[];
  cellTimeoutSeconds?: number;
  /** GBNF per model turn, the last repeated (tests force exact turns from the fixture model). */
  grammars?: string[];
}

/** The answer to `POST agent/sessions`. */
export interface AgentSessionCreated {
  sessionId: string;
  model: string;
  profile: string;
}

/** What the client is asked to do. */
export type AgentSessionAsk =
  | { kind: 'run'; code: string; step: number; timeoutMs: number }
  | { kind: 'inspect'; expression: string }
  /** `risk`: why the code policy flagged the step, when it did (then "allow the rest" does not cover it). */
  | { kind: 'approve'; step: number; thought: string; code: string; risk?: string };

/** One event of a session, in order; `seq` counts from 1. */
export type AgentSessionEvent = { seq: number } & (
  | { type: 'context'; text: string }
  | { type: 'text'; step: number; text: string }
  | { type: 'thought'; step: number; text: string }
  | ({ type: 'ask'; ask: number } & AgentSessionAsk)
  | { type: 'step'; step: EpisodeStep }
  | { type: 'rejected'; rejected: RejectedAnswer }
  /** `answer`: the answer as delivered (in the asked form); `caution`: the line shown under an ungrounded one. */
  | { type: 'end'; episode: Episode; answer: string | null; logged: boolean; caution: string | null }
);

/** `GET agent/sessions/{id}/events?after=N&waitMs=M`: the events after `after`, waiting up to `waitMs` for one. */
export interface AgentSessionEvents {
  events: AgentSessionEvent[];
  /** The session ended: no event follows the last one. */
  done: boolean;
}

/** The client's answer to an `ask` event. */
export type AgentSessionAnswer =
  | { kind: 'run'; status: 'ok' | 'error' | 'timeout' | 'aborted'; outputs: NbOutput[]; executionCount?: number | null; durationMs: number }
  | { kind: 'inspect'; value: string | null }
  /** `allow-rest`: run this step and, unasked, every later one the code policy does not flag. */
  | { kind: 'approve'; action: 'run' | 'skip' | 'stop' | 'allow-rest' };

/** `POST agent/sessions/{id}/answers` */
export interface AgentSessionAnswerRequest {
  ask: number;
  answer: AgentSessionAnswer;
}

/** `POST agent/reflect`: a reflection on cells (`%datarus_reflect`), as Reflect in JupyterLab sends it. */
export interface AgentReflectRequest {
  cells: { cellType: 'code' | 'markdown' | 'raw'; source: string; outputs?: NbOutput[] }[];
  maxTokens?: number;
  temperature?: number;
  /** GBNF for the turn (tests). */
  grammar?: string;
}

export interface AgentReflectResponse {
  model: string;
  thinking: string;
  answer: string;
}
