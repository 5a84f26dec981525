/**
 * What the Datarus plugins provide to each other (and to other extensions):
 * the typed client of the model host.
 */
import type { ServerConnection } from '@jupyterlab/services';
import { Token } from '@lumino/coreutils';

import type { HostRequest } from '../agent/hostModel';
import type { Episode } from '../episode/types';
import type {
  EditRequest,
  ExportRequest,
  ExportSummary,
  FeedbackRequest,
  HostStatus,
  LoadModelResponse,
  LogEpisodeResponse,
  LoggedResponse,
  ModelEntry,
  PullState
} from '../contract';

/** What the server extension knows of the host process itself (`/datarus/host-state`). */
export interface HostProcessState {
  running: boolean;
  starts: number;
  restarts: number;
  lastExitCode: number | null;
  lastError: string | null;
  /** Set while the model runtime is installed on first use of a pip install. */
  runtimeInstall?: { progress: number } | null;
  /** Set when the server stopped restarting the host on a backend it kept dying on: what it did instead. */
  crashNote?: string | null;
}

/**
 * The model host, reached through the Jupyter server (`/datarus/api/*`, behind
 * Jupyter's authentication). Every method rejects with a `HostError` that
 * keeps the host's message. The agent's `HostModel` builds its generation requests on `request`.
 */
export interface IDatarusClient {
  readonly serverSettings: ServerConnection.ISettings;
  /** Sends one request to the host API (`path` relative to `/datarus/api`), as the agent's `HostModel` does for generation. */
  readonly request: HostRequest;
  status(options?: { signal?: AbortSignal }): Promise<HostStatus>;
  /** The host process as the server extension sees it; null when the server cannot say. */
  processState(): Promise<HostProcessState | null>;
  models(): Promise<ModelEntry[]>;
  loadModel(model: string): Promise<LoadModelResponse>;
  pull(model: string): Promise<PullState>;
  pulls(): Promise<PullState[]>;
  cancelPull(model: string): Promise<boolean>;
  logEpisode(episode: Episode): Promise<LogEpisodeResponse>;
  logFeedback(feedback: FeedbackRequest): Promise<LoggedResponse>;
  logEdit(edit: EditRequest): Promise<LoggedResponse>;
  /** Writes an export into the episode log's `exports` folder. */
  exportLog(request: ExportRequest & { path: string }): Promise<ExportSummary>;
}

export const IDatarusClient = new Token<IDatarusClient>(
  'datarus-jupyterlab:IDatarusClient',
  'The Datarus model host: status, models, downloads, generation, the episode log and its exports.'
);
