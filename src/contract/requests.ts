/**
 * The bodies of the host's requests and answers, by endpoint (under `/api`).
 * The host validates each request body against a schema of the same type.
 */
import type { ExportFilters, ExportFormat } from '../episode/export';
import type { Episode } from '../episode/types';
import type { ChatMessage } from '../protocol/messages';
import type { ModelEntry, PullState } from './models';

/**
 * `POST generate`: a chat (`messages`) or raw text (`prompt`), exactly one of them. The
 * answer streams as server-sent events (generate.ts), or with `"stream": false` is the
 * `GenerateResult` as one JSON object.
 */
/** `POST /api/tokens`: how many tokens a chat prompt takes with the loaded model, and the context it must fit. */
export interface CountTokensRequest {
  /** The episode whose generated text the prompt repeats: its exact tokens are counted. */
  episodeId?: string;
  messages: ChatMessage[];
}

export interface CountTokensResult {
  /** Tokens of the prompt as `generate` would evaluate it. */
  tokens: number;
  /** The loaded model's context: a turn fits when `tokens + 1 + maxTokens` is at most this. */
  contextSize: number;
}

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

/** `GET models` */
export interface ModelsResponse {
  models: ModelEntry[];
}

/** `POST models/load` */
export interface LoadModelRequest {
  /** A manifest name or a `.gguf` path. */
  model: string;
  contextSize?: number;
}

export interface LoadModelResponse {
  model: string;
  path: string;
  contextSize: number;
}

/** `POST models/pull` (answered with the new download's `PullState`) */
export interface PullRequest {
  model: string;
  /** Where to download from, instead of the manifest's address. */
  url?: string;
}

/** `GET models/pulls` */
export interface PullsResponse {
  pulls: PullState[];
}

/** `POST models/pull/cancel` */
export interface PullCancelRequest {
  model: string;
}

export interface PullCancelResponse {
  cancelled: boolean;
}

/** `POST episodes/<id>/cancel` */
export interface CancelEpisodeResponse {
  episodeId: string;
  cancelled: boolean;
  /** Tokens the cancelled generation had sampled. */
  tokensAtCancel: number | null;
}

/** `DELETE episodes/<id>` */
export interface EndEpisodeResponse {
  episodeId: string;
  ended: boolean;
}

/** `GET log` */
export interface LogSummary {
  file: string;
  episodes: number;
  /** Lines of the log that could not be read, and why. */
  skipped: { line: number; reason: string }[];
  migrated: number;
}

export type Rating = 'up' | 'down';

/** `POST log/episodes` */
export interface LogEpisodeRequest {
  episode: Episode;
}

export interface LogEpisodeResponse {
  logged: true;
  file: string;
}

/** `POST log/feedback`: `step` null rates the whole episode. */
export interface FeedbackRequest {
  episodeId: string;
  step: number | null;
  rating: Rating;
}

/** `POST log/edits`: the user's change to a step's code, a preference pair. */
export interface EditRequest {
  episodeId: string;
  step: number;
  original: string;
  edited: string;
}

/** The answer of `POST log/feedback` and `POST log/edits`. */
export interface LoggedResponse {
  logged: true;
}

/** `POST log/export`: with `path`, written to that file in the exports folder; without, answered with the rows. */
export interface ExportRequest {
  format: ExportFormat;
  filters?: ExportFilters;
  path?: string;
}

/** The answer of an export written to a file. */
export interface ExportSummary {
  format: ExportFormat;
  path: string;
  rows: number;
  episodes: number;
}
