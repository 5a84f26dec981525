/**
 * What the generator is asked for. The HTTP body that carries it, and its
 * schema, are in routes/generate.ts.
 */
import type { ChatMessage } from '../protocol/messages';

export type { ChatMessage };

export interface GenerateRequest {
  episodeId?: string;
  messages?: ChatMessage[];
  prompt?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop?: string[];
  /** `datarus` for the built-in protocol grammar, or GBNF text. */
  grammar?: string;
}

/** The most tokens one request may ask for. */
export const MAX_TOKENS_LIMIT = 1 << 20;
