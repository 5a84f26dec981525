/**
 * The browser's way to the model host: `/datarus/api/*` on the Jupyter server,
 * which checks Jupyter's authentication and forwards to the host's socket.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export type Backend = 'cpu' | 'cuda' | 'vulkan' | 'metal';

/** The host's `/api/status`, as served by `src/host/server.ts`. */
export interface HostStatus {
  version: string;
  state: 'starting' | 'loading' | 'ready' | 'idle' | 'error';
  error: string | null;
  backend: Backend | null;
  backendNote: string | null;
  /** Every backend the host considered at start; the one in use has `ok: true`. Absent from older hosts. */
  backends?: { name: Backend; ok: boolean; reason: string | null; cached: boolean }[];
  gpu: { name: string; vramFreeBytes: number; vramTotalBytes: number } | null;
  model: { name: string; path: string; sizeBytes: number; trainContextSize: number; gpuLayers: number; totalLayers?: number; promptProfile?: string } | null;
  loadProgress: number;
  contextSize: number | null;
  chatWrapper: string | null;
  threads: number;
  threadsChosenBy: 'measured' | 'option' | 'default';
  cores: number;
}

/** An error the host or the server extension answered with, with its message kept. */
export class HostError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message);
  }
}

export async function requestHost<T>(
  endpoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'datarus', 'api', endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (err) {
    throw new HostError(0, 'network', `The Jupyter server could not be reached: ${(err as Error).message}`);
  }
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: fall through with the raw text as the message
  }
  if (!response.ok) {
    const error = data?.error;
    throw new HostError(response.status, error?.code ?? 'http_error', error?.message ?? (text || response.statusText));
  }
  return data as T;
}

export function fetchHostStatus(settings?: ServerConnection.ISettings): Promise<HostStatus> {
  return requestHost<HostStatus>('status', {}, settings);
}

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

export async function fetchHostProcessState(settings: ServerConnection.ISettings = ServerConnection.makeSettings()): Promise<HostProcessState | null> {
  try {
    const response = await ServerConnection.makeRequest(URLExt.join(settings.baseUrl, 'datarus', 'host-state'), {}, settings);
    return response.ok ? ((await response.json()) as HostProcessState) : null;
  } catch {
    return null;
  }
}
