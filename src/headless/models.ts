/**
 * The model side of headless runs: the embedded host, started as a `datarus
 * serve` child on a private unix socket (a fresh 0700 folder, a random bearer
 * token in its environment, gone when this process goes), or remote
 * OpenAI-compatible servers (`--base-url`, one or several: vLLM, llama.cpp's
 * server, another `datarus serve`), with the turns spread over them.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';

import { HostModel, ModelError } from '../agent/hostModel';
import { OpenAIModel } from '../agent/openaiModel';
import type { AgentModel, ModelTurn, ModelTurnRequest } from '../agent/types';
import type { HostStatus } from '../contract';
import { describeSettings } from '../host/models/modelSettings';
import { ServeProcess, startServe } from './serveProcess';

/** `fetch` for an HTTP server on a unix socket, answering a web `Response` whose body streams. */
export function socketFetch(socket: string, token: string): (p: string, init?: RequestInit) => Promise<Response> {
  return (p, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason ?? new Error('aborted'));
        return;
      }
      const headers: Record<string, string> = { ...(init.headers as Record<string, string>), Authorization: `Bearer ${token}` };
      const req = http.request({ socketPath: socket, path: `/api/${p}`, method: init.method ?? 'GET', headers, signal }, res => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (typeof value === 'string') {
            responseHeaders.set(name, value);
          }
        }
        const body = res.statusCode === 204 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        resolve(new Response(body, { status: res.statusCode ?? 500, headers: responseHeaders }));
      });
      req.on('error', reject);
      req.end(typeof init.body === 'string' ? init.body : undefined);
    });
}

export interface EmbeddedHostOptions {
  model?: string;
  threads?: number;
  contextSize?: number;
  maxEpisodes: number;
  gpu?: string;
  modelsDir?: string;
  /** Messages about the host (loading, ready), for the terminal. */
  log: (line: string) => void;
}

export interface ModelBackend {
  model: AgentModel;
  /** The prompt profile the model was built for, when the backend knows it (the host's manifest). */
  profile?: string;
  describe: string;
  close(): Promise<void>;
}

export async function startEmbeddedHost(options: EmbeddedHostOptions): Promise<ModelBackend> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'datarus-host-'));
  await fs.chmod(dir, 0o700);
  const socket = path.join(dir, 'host.sock');
  const token = randomBytes(24).toString('base64url');
  const args = ['--exit-with-stdin', '--max-episodes', String(options.maxEpisodes)];
  if (options.model) {
    args.push('--model', options.model);
  }
  if (options.threads) {
    args.push('--threads', String(options.threads));
  }
  if (options.contextSize) {
    args.push('--context-size', String(options.contextSize));
  }
  if (options.gpu) {
    args.push('--gpu', options.gpu);
  }
  if (options.modelsDir) {
    args.push('--models-dir', options.modelsDir);
  }
  const removeDir = () => fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  let host: ServeProcess;
  try {
    host = await startServe({ listen: { socket }, args, token, stdin: 'pipe', keepOutput: 20000 });
  } catch (e) {
    await removeDir();
    throw new ModelError((e as Error).message);
  }
  const request = socketFetch(socket, token);
  const close = async () => {
    await host.stop(25000); // the host finishes running generations first
    await removeDir();
  };
  try {
    const status = await waitReady(host.proc, request, host.output, options.log);
    const name = status.model?.name ?? 'embedded';
    if (status.model?.settings) {
      // Which profile and context the model runs with, and why: a file given by path may match no manifest.
      options.log(describeSettings({ promptProfile: status.model.promptProfile, contextSize: status.contextSize, settings: status.model.settings }));
    }
    return {
      model: new HostModel(request, name),
      profile: status.model?.promptProfile,
      describe: `${name} on the embedded host (${status.backend ?? 'cpu'}, ${status.threads ?? '?'} threads)`,
      close
    };
  } catch (e) {
    await close();
    throw e;
  }
}

async function waitReady(proc: ChildProcess, request: ReturnType<typeof socketFetch>, output: () => string, log: (line: string) => void): Promise<HostStatus> {
  let lastShown = '';
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new ModelError(`the model host exited (${proc.exitCode ?? proc.signalCode}):\n${output().slice(-1500).trim()}`);
    }
    const status = await request('status')
      .then(r => (r.ok ? (r.json() as Promise<HostStatus>) : null))
      .catch(() => null);
    if (status) {
      if (status.state === 'ready') {
        return status;
      }
      if (status.state === 'error' || (status.state === 'idle' && status.error)) {
        throw new ModelError(`the model host could not load its model: ${status.error}`);
      }
      if (status.state === 'idle') {
        throw new ModelError('the model host has no model: pass --model NAME|FILE.gguf (or set DATARUS_MODEL)');
      }
      const shown = status.state === 'loading' ? `loading the model ${Math.round(status.loadProgress * 100)}%` : `host ${status.state}`;
      if (shown !== lastShown) {
        log(shown);
        lastShown = shown;
      }
    }
    await new Promise(r => setTimeout(r, 250));
  }
}


export interface RemoteOptions {
  baseUrls: string[];
  apiKey?: string;
  model?: string;
  /** Messages about backends that went away or came back. */
  log: (line: string) => void;
  fetch?: typeof fetch;
}

/** Asks each server which model it serves (`GET /models`) when none was named: the first one. */
async function servedModel(baseUrl: string, apiKey: string | undefined, doFetch: typeof fetch): Promise<string> {
  const url = `${baseUrl.replace(/\/+$/, '')}/models`;
  let response: Response;
  try {
    response = await doFetch(url, { headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {} });
  } catch (err) {
    throw new ModelError(`${url} could not be reached: ${(err as Error).message}`);
  }
  if (!response.ok) {
    throw new ModelError(`${url} answered ${response.status}; pass --model NAME`, response.status);
  }
  const id = ((await response.json()) as { data?: { id?: string }[] })?.data?.[0]?.id;
  if (!id) {
    throw new ModelError(`${url} lists no model; pass --model NAME`);
  }
  return id;
}

export async function remoteBackend(options: RemoteOptions): Promise<ModelBackend> {
  const doFetch = options.fetch ?? fetch;
  const model = options.model ?? (await firstAnswer(options.baseUrls.map(u => () => servedModel(u, options.apiKey, doFetch))));
  const pool = new BackendPool(
    options.baseUrls.map(baseUrl => ({ url: baseUrl, model: new OpenAIModel({ baseUrl, apiKey: options.apiKey, model, fetch: doFetch }) })),
    options.log
  );
  return {
    model: pool,
    describe: `${model} on ${options.baseUrls.length === 1 ? options.baseUrls[0] : `${options.baseUrls.length} servers`}`,
    close: async () => undefined
  };
}

async function firstAnswer<T>(tries: (() => Promise<T>)[]): Promise<T> {
  const errors: string[] = [];
  for (const attempt of tries) {
    try {
      return await attempt();
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  throw new ModelError(errors.join('; '));
}

interface Backend {
  url: string;
  model: AgentModel;
  busy: number;
  /** When it failed last; it is tried again after `retryAfterMs`. */
  downSince: number | null;
}

/** Whether a failure says the server is gone (no connection, or a gateway or server error), not that the request was wrong. */
function serverGone(err: unknown): boolean {
  if (!(err instanceof ModelError)) {
    return false;
  }
  return err.status === undefined || err.status === 502 || err.status === 503 || err.status === 504;
}

/**
 * Several OpenAI-compatible servers as one model. An episode stays on the
 * server it started on (its prefix cache holds the episode's prompt); a new
 * episode goes to the least busy server. A server that cannot be reached is
 * reported once, skipped, and tried again after a while; a turn that failed
 * before any text arrived is sent to another server, one that failed mid-turn
 * fails its episode (its text was already streamed).
 */
export class BackendPool implements AgentModel {
  constructor(
    backends: { url: string; model: AgentModel }[],
    private readonly _log: (line: string) => void,
    private readonly _retryAfterMs = 30000,
    private readonly _now: () => number = Date.now
  ) {
    if (backends.length === 0) {
      throw new ModelError('no backend');
    }
    this._backends = backends.map(b => ({ ...b, busy: 0, downSince: null }));
    this.name = backends[0].model.name;
    this.continuesTurns = backends.every(b => b.model.continuesTurns === true);
  }

  readonly name: string;
  /** Only when every server does: a turn may go to any of them. */
  readonly continuesTurns: boolean;

  /** Turns sent to each server so far, by URL. */
  get turnsByServer(): Record<string, number> {
    return Object.fromEntries(this._backends.map(b => [b.url, this._turns.get(b.url) ?? 0]));
  }

  async complete(request: ModelTurnRequest, onText: (text: string) => void): Promise<ModelTurn> {
    const tried = new Set<Backend>();
    const failures: string[] = [];
    for (;;) {
      const backend = this._pick(request.episodeId, tried);
      if (!backend) {
        throw new ModelError(`no model server could take the turn: ${failures.join('; ') || 'every server is down'}`);
      }
      tried.add(backend);
      this._sticky.set(request.episodeId, backend);
      backend.busy++;
      this._turns.set(backend.url, (this._turns.get(backend.url) ?? 0) + 1);
      let streamed = false;
      try {
        const turn = await backend.model.complete(request, text => {
          streamed = true;
          onText(text);
        });
        if (backend.downSince !== null) {
          this._log(`model server ${backend.url} answers again`);
          backend.downSince = null;
        }
        return turn;
      } catch (err) {
        if (!serverGone(err)) {
          throw err;
        }
        if (backend.downSince === null) {
          this._log(`model server ${backend.url} is unreachable, skipping it: ${(err as Error).message}`);
        }
        backend.downSince = this._now();
        failures.push((err as Error).message);
        if (streamed) {
          throw err;
        }
      } finally {
        backend.busy--;
      }
    }
  }

  async endEpisode(episodeId: string): Promise<void> {
    const backend = this._sticky.get(episodeId);
    this._sticky.delete(episodeId);
    await backend?.model.endEpisode?.(episodeId);
  }

  private _pick(episodeId: string, tried: Set<Backend>): Backend | null {
    const up = (b: Backend) => !tried.has(b) && (b.downSince === null || this._now() - b.downSince >= this._retryAfterMs);
    const sticky = this._sticky.get(episodeId);
    if (sticky && up(sticky)) {
      return sticky;
    }
    let best: Backend | null = null;
    // Least busy; among equals, the one after the last chosen, so idle servers take turns.
    for (let i = 0; i < this._backends.length; i++) {
      const b = this._backends[(this._next + i) % this._backends.length];
      if (up(b) && (best === null || b.busy < best.busy)) {
        best = b;
      }
    }
    if (best) {
      this._next = (this._backends.indexOf(best) + 1) % this._backends.length;
    }
    return best;
  }

  private readonly _backends: Backend[];
  private readonly _sticky = new Map<string, Backend>();
  private readonly _turns = new Map<string, number>();
  private _next = 0;
}
