/**
 * The browser's client of the model host: `/datarus/api/*` on the Jupyter
 * server, which checks Jupyter's authentication and forwards to the host's socket.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { HostRequest } from '../agent/hostModel';
import type {
  EditRequest,
  ErrorBody,
  ErrorCode,
  ExportRequest,
  ExportSummary,
  FeedbackRequest,
  HostStatus,
  LoadModelRequest,
  LoadModelResponse,
  LogEpisodeRequest,
  LogEpisodeResponse,
  LoggedResponse,
  ModelsResponse,
  PullCancelRequest,
  PullCancelResponse,
  PullRequest,
  PullsResponse,
  PullState
} from '../contract';
import type { Episode } from '../episode/types';
import type { HostProcessState, IDatarusClient } from './tokens';

/**
 * An error the host or the server extension answered with, with its code and message kept;
 * `network` when the Jupyter server could not be reached, `http_error` for an answer without an error body.
 */
export class HostError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'network' | 'http_error',
    message: string
  ) {
    super(message);
  }
}

export class DatarusClient implements IDatarusClient {
  constructor(readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  readonly request: HostRequest = (path, init) => ServerConnection.makeRequest(this._url('api', path), init, this.serverSettings);

  status(options: { signal?: AbortSignal } = {}): Promise<HostStatus> {
    return this._call<HostStatus>('status', { signal: options.signal });
  }

  async processState(): Promise<HostProcessState | null> {
    try {
      const response = await ServerConnection.makeRequest(this._url('host-state'), {}, this.serverSettings);
      return response.ok ? ((await response.json()) as HostProcessState) : null;
    } catch {
      return null;
    }
  }

  async models(): Promise<ModelsResponse['models']> {
    return (await this._call<ModelsResponse>('models')).models;
  }

  loadModel(model: string): Promise<LoadModelResponse> {
    return this._post<LoadModelRequest, LoadModelResponse>('models/load', { model });
  }

  pull(model: string): Promise<PullState> {
    return this._post<PullRequest, PullState>('models/pull', { model });
  }

  async pulls(): Promise<PullState[]> {
    return (await this._call<PullsResponse>('models/pulls')).pulls;
  }

  async cancelPull(model: string): Promise<boolean> {
    return (await this._post<PullCancelRequest, PullCancelResponse>('models/pull/cancel', { model })).cancelled;
  }

  logEpisode(episode: Episode): Promise<LogEpisodeResponse> {
    return this._post<LogEpisodeRequest, LogEpisodeResponse>('log/episodes', { episode });
  }

  logFeedback(feedback: FeedbackRequest): Promise<LoggedResponse> {
    return this._post<FeedbackRequest, LoggedResponse>('log/feedback', feedback);
  }

  logEdit(edit: EditRequest): Promise<LoggedResponse> {
    return this._post<EditRequest, LoggedResponse>('log/edits', edit);
  }

  exportLog(request: ExportRequest & { path: string }): Promise<ExportSummary> {
    return this._post<ExportRequest, ExportSummary>('log/export', request);
  }

  private _url(...parts: string[]): string {
    return URLExt.join(this.serverSettings.baseUrl, 'datarus', ...parts);
  }

  private _post<Body, Answer>(endpoint: string, body: Body): Promise<Answer> {
    return this._call<Answer>(endpoint, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  }

  /** One JSON request; a failure of any kind becomes a `HostError` with the most telling message there is. */
  private async _call<Answer>(endpoint: string, init: RequestInit = {}): Promise<Answer> {
    let response: Response;
    try {
      response = await this.request(endpoint, init);
    } catch (err) {
      throw new HostError(0, 'network', `The Jupyter server could not be reached: ${(err as Error).message}`);
    }
    const text = await response.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: fall through with the raw text as the message
    }
    if (!response.ok) {
      // The host's and the server extension's errors carry an `ErrorBody`; a proxy in between may answer anything.
      const error = (data as Partial<ErrorBody> | null)?.error;
      throw new HostError(response.status, error?.code ?? 'http_error', error?.message ?? (text || response.statusText));
    }
    return data as Answer;
  }
}
