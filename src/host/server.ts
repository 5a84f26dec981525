/**
 * The host's HTTP API. Under Jupyter it listens on a private unix socket and the
 * server extension forwards authenticated requests to it; standalone it listens
 * on 127.0.0.1. Either way every request needs the host's bearer token.
 */
import { timingSafeEqual } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

import { GENERATE_EVENT, HostStatus, LoadModelResponse, ModelEntry, ModelsResponse } from '../contract';
import { Engine, ModelLoadError } from './engine';
import { HttpError } from './httpError';
import { EXPORT_FORMATS, exportRows, ExportFilters, ExportFormat, filtersFor, selectEpisodes, toNotebook } from '../episode/export';
import type { Episode } from '../episode/types';
import { EpisodeStore, LogError } from './episodeStore';
import { writeExport } from './exportFiles';
import { isInside, ManifestError } from './manifests';
import { BUNDLED_VERSION } from './version';
import { chatCompletions, completions, listModels } from './openai';
import { PullTable } from './pull';
import { parseGenerateRequest } from './requests';
import { abortOnDisconnect, sendGenerateEvent, startEventStream } from './sse';

export const HOST_VERSION: string = BUNDLED_VERSION ?? JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version;

export type Listen = { socket: string } | { host: '127.0.0.1'; port: number };

export { HttpError };

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: unknown, params: string[]) => Promise<void>;

interface Route {
  method: string;
  path: RegExp;
  handler: Handler;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export class HostServer {
  constructor(
    private readonly _engine: Engine,
    private readonly _token: string,
    private readonly _store: EpisodeStore | null = null
  ) {
    const engine = this._engine;
    this._pulls = new PullTable(engine.modelsDir);
    const route = (method: string, path: RegExp, handler: Handler): Route => ({ method, path, handler });
    this._routes = [
      route('GET', /^\/api\/status$/, async (_req, res) => this._json(res, 200, await this._status())),
      route('GET', /^\/api\/models$/, async (_req, res) => this._json(res, 200, await this._models())),
      route('POST', /^\/api\/models\/load$/, async (_req, res, body) => this._json(res, 200, await this._load(body))),
      route('GET', /^\/api\/models\/pulls$/, async (_req, res) => this._json(res, 200, { pulls: this._pulls.list() })),
      route('POST', /^\/api\/models\/pull$/, async (_req, res, body) => this._json(res, 202, this._pull(body))),
      route('POST', /^\/api\/models\/pull\/cancel$/, async (_req, res, body) =>
        this._json(res, 200, { cancelled: this._pulls.cancel(String((body as any)?.model ?? '')) })
      ),
      route('GET', /^\/api\/log$/, async (_req, res) => this._json(res, 200, await this._logSummary())),
      route('POST', /^\/api\/log\/episodes$/, async (_req, res, body) => {
        await this._log().appendEpisode(parseEpisode(body));
        this._json(res, 201, { logged: true, file: this._log().file });
      }),
      route('POST', /^\/api\/log\/feedback$/, async (_req, res, body) => {
        const { episodeId, step, rating } = (body ?? {}) as any;
        if (typeof episodeId !== 'string' || !(step === null || Number.isInteger(step)) || (rating !== 'up' && rating !== 'down')) {
          throw new HttpError(400, 'invalid_request', 'body must be {"episodeId": string, "step": integer or null, "rating": "up" | "down"}');
        }
        await this._log().appendFeedback(episodeId, step, rating);
        this._json(res, 201, { logged: true });
      }),
      route('POST', /^\/api\/log\/edits$/, async (_req, res, body) => {
        const { episodeId, step, original, edited } = (body ?? {}) as any;
        if (typeof episodeId !== 'string' || !Number.isInteger(step) || typeof original !== 'string' || typeof edited !== 'string') {
          throw new HttpError(400, 'invalid_request', 'body must be {"episodeId", "step", "original", "edited"}');
        }
        await this._log().appendEdit(episodeId, step, original, edited);
        this._json(res, 201, { logged: true });
      }),
      route('POST', /^\/api\/log\/export$/, async (_req, res, body) => this._json(res, 200, await this._export(body))),
      route('POST', /^\/api\/generate$/, (req, res, body) => this._generate(req, res, body)),
      route('POST', /^\/api\/episodes\/([^/]+)\/cancel$/, async (_req, res, _body, [id]) =>
        this._json(res, 200, { episodeId: id, ...engine.generator.cancel(id) })
      ),
      route('DELETE', /^\/api\/episodes\/([^/]+)$/, async (_req, res, _body, [id]) =>
        this._json(res, 200, { episodeId: id, ended: await engine.generator.end(id) })
      ),
      route('GET', /^\/v1\/models$/, async (_req, res) => this._json(res, 200, listModels(engine))),
      route('POST', /^\/v1\/chat\/completions$/, (req, res, body) => chatCompletions(engine, req, res, body)),
      route('POST', /^\/v1\/completions$/, (req, res, body) => completions(engine, req, res, body))
    ];
    this._server = http.createServer((req, res) => {
      // While the server closes, a connection kept alive after its answer would hold it open.
      res.once('finish', () => this._closing && setImmediate(() => this._server.closeIdleConnections()));
      this._handle(req, res).catch(err => this._error(res, err));
    });
    // Clients (Jupyter's proxy, fetch) keep connections open between requests; a server that
    // closes idle sockets first races them into "other side closed" errors.
    this._server.keepAliveTimeout = 65000;
    this._server.headersTimeout = 66000;
  }

  /** Starts listening; rejects with a message that says what to do when the address is taken. */
  async listen(listen: Listen): Promise<string> {
    if ('socket' in listen) {
      await prepareSocket(listen.socket);
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        this._server.off('listening', onListening);
        if (err.code === 'EADDRINUSE') {
          reject(
            new Error(
              'socket' in listen
                ? `the socket ${listen.socket} is in use by another process`
                : `port ${listen.port} on 127.0.0.1 is in use: choose another with --port`
            )
          );
        } else {
          reject(err);
        }
      };
      const onListening = () => {
        this._server.off('error', onError);
        resolve();
      };
      this._server.once('error', onError);
      this._server.once('listening', onListening);
      if ('socket' in listen) {
        this._server.listen(listen.socket);
      } else {
        this._server.listen(listen.port, listen.host);
      }
    });
    if ('socket' in listen) {
      await fs.chmod(listen.socket, 0o600);
      return `unix:${listen.socket}`;
    }
    const address = this._server.address() as net.AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  private _pull(body: unknown) {
    const request = body as { model?: unknown; url?: unknown };
    if (typeof request?.model !== 'string') {
      throw new HttpError(400, 'invalid_request', 'body must be {"model": "<manifest name>", "url"?: "<address>"}');
    }
    const manifest = this._engine.manifests.get(request.model);
    if (!manifest) {
      throw new HttpError(404, 'unknown_model', `no manifest named "${request.model}"`);
    }
    if (request.url !== undefined && typeof request.url !== 'string') {
      throw new HttpError(400, 'invalid_request', '"url" must be a string');
    }
    return this._pulls.start(manifest, request.url);
  }

  /**
   * Stops accepting connections and resolves once every open one has ended;
   * responses still running after `graceMs` (a stream nobody stopped) are cut.
   */
  async close(graceMs = 5000): Promise<void> {
    this._pulls.cancelAll();
    this._closing = true;
    const closed = new Promise<void>(resolve => this._server.close(() => resolve()));
    this._server.closeIdleConnections();
    const timer = setTimeout(() => this._server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  private async _handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this._authorized(req)) {
      throw new HttpError(401, 'unauthorized', 'missing or wrong bearer token (Authorization: Bearer <token>)');
    }
    const url = new URL(req.url ?? '/', 'http://host');
    const matching = this._routes.filter(r => r.path.test(url.pathname));
    const route = matching.find(r => r.method === req.method);
    if (!route) {
      throw matching.length > 0
        ? new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname}`)
        : new HttpError(404, 'not_found', `no endpoint ${url.pathname}`);
    }
    const params = route.path.exec(url.pathname)!.slice(1).map(decodePathPart);
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    await route.handler(req, res, body, params);
  }

  private _authorized(req: http.IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    if (!match) {
      return false;
    }
    const given = Buffer.from(match[1]);
    const expected = Buffer.from(this._token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async _status(): Promise<HostStatus> {
    return { version: HOST_VERSION, pid: process.pid, uptimeSeconds: Math.round(process.uptime()), ...(await this._engine.status()) };
  }

  private async _models(): Promise<ModelsResponse> {
    const models: ModelEntry[] = [];
    for (const manifest of this._engine.manifests.values()) {
      const present = await fs
        .stat(path.join(this._modelsDir, manifest.file))
        .then(s => s.isFile())
        .catch(() => false);
      models.push({ ...manifest, downloaded: present, loaded: this._engine.loaded?.manifest?.name === manifest.name });
    }
    return { models };
  }

  private async _load(body: unknown): Promise<LoadModelResponse> {
    const request = body as { model?: unknown; contextSize?: unknown };
    if (typeof request?.model !== 'string' || request.model === '') {
      throw new HttpError(400, 'invalid_request', 'body must be {"model": "<manifest name or .gguf path>"}');
    }
    if (request.contextSize !== undefined && (!Number.isInteger(request.contextSize) || (request.contextSize as number) < 128)) {
      throw new HttpError(400, 'invalid_request', 'contextSize must be an integer ≥ 128');
    }
    const loaded = await this._engine.load(request.model, request.contextSize as number | undefined);
    return { model: loaded.name, path: loaded.path, contextSize: this._engine.contextSize };
  }

  /**
   * Streams a generation as server-sent events: `chunk` events with text as it
   * is generated, then one `done` event with the result (or `error`). With
   * `"stream": false` the answer is the result as one JSON object.
   */
  private async _generate(_req: http.IncomingMessage, res: http.ServerResponse, body: unknown): Promise<void> {
    const { stream = true, ...rest } = (body ?? {}) as { stream?: unknown };
    if (typeof stream !== 'boolean') {
      throw new HttpError(400, 'invalid_request', '"stream" must be true or false');
    }
    const request = parseGenerateRequest(rest);
    const generator = this._engine.generator;
    const signal = abortOnDisconnect(res);
    if (!stream) {
      this._json(res, 200, await generator.generate(request, () => undefined, signal));
      return;
    }
    let started = false;
    const start = () => {
      if (!started) {
        startEventStream(res);
        started = true;
      }
    };
    try {
      const result = await generator.generate(
        request,
        text => {
          start();
          sendGenerateEvent(res, { event: GENERATE_EVENT.chunk, data: { text } });
        },
        signal
      );
      start();
      sendGenerateEvent(res, { event: GENERATE_EVENT.done, data: result });
    } catch (err) {
      if (!started) {
        throw err; // nothing sent yet: answer with a plain JSON error
      }
      const { code, message } = describeError(err);
      sendGenerateEvent(res, { event: GENERATE_EVENT.error, data: { code, message } });
    }
    res.end();
  }

  private _log(): EpisodeStore {
    if (!this._store) {
      throw new HttpError(503, 'no_log', 'this host was started without an episode log (--episodes-file)');
    }
    return this._store;
  }

  private async _logSummary() {
    const store = this._log();
    const { episodes, skipped, migrated } = await store.read();
    return { file: store.file, episodes: episodes.length, skipped, migrated };
  }

  /** Exports into the log's `exports` folder (never elsewhere, never overwriting), or returns the rows. */
  private async _export(body: unknown) {
    const { format, filters, path: target } = (body ?? {}) as { format?: unknown; filters?: ExportFilters; path?: unknown };
    if (typeof format !== 'string' || !(EXPORT_FORMATS as readonly string[]).includes(format)) {
      throw new HttpError(400, 'invalid_request', `"format" must be one of ${EXPORT_FORMATS.join(', ')}`);
    }
    const store = this._log();
    const { episodes } = await store.read();
    if (target === undefined) {
      const selected = selectEpisodes(episodes, filtersFor(format as ExportFormat, filters ?? {}));
      // Redacted again: the log may predate a secret format, or have been written without redaction.
      return store.redactor.value(
        format === 'ipynb' ? { notebooks: selected.map(toNotebook) } : { rows: exportRows(selected, format as Exclude<ExportFormat, 'ipynb'>) }
      );
    }
    if (typeof target !== 'string' || target === '') {
      throw new HttpError(400, 'invalid_request', '"path" must be a file name inside the exports folder');
    }
    const root = path.join(path.dirname(store.file), 'exports');
    const resolved = path.resolve(root, target);
    if (!isInside(root, resolved) || resolved === root) {
      throw new HttpError(400, 'path_outside', `"${target}" is outside the exports folder ${root}`);
    }
    return writeExport(episodes, format as ExportFormat, resolved, filters ?? {}, store.redactor);
  }

  private get _modelsDir(): string {
    return this._engine.modelsDir;
  }

  private _json(res: http.ServerResponse, status: number, data: unknown): void {
    const body = JSON.stringify(data);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  private _error(res: http.ServerResponse, err: unknown): void {
    const { status, code, message } = describeError(err);
    if (res.headersSent) {
      res.end();
      return;
    }
    // `type` is there for OpenAI clients, which read error.message and error.type.
    this._json(res, status, { error: { code, message, type: status >= 500 ? 'server_error' : 'invalid_request_error' } });
  }

  private _closing = false;
  private readonly _routes: Route[];
  private readonly _pulls: PullTable;
  private readonly _server: http.Server;
}

/** A percent-decoded path segment; a malformed escape is the client's error, not the server's. */
function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, 'invalid_request', `"${part}" in the path is not valid percent-encoding`);
  }
}

function parseEpisode(body: unknown): Episode {
  const episode = (body as { episode?: unknown })?.episode as Episode | undefined;
  if (!episode || typeof episode !== 'object' || typeof episode.id !== 'string' || !Array.isArray(episode.steps)) {
    throw new HttpError(400, 'invalid_request', 'body must be {"episode": <episode>}');
  }
  return episode;
}

function describeError(err: unknown): { status: number; code: string; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof HttpError) {
    return { status: err.status, code: err.code, message };
  }
  if (err instanceof ManifestError) {
    return { status: 400, code: 'bad_model', message };
  }
  if (err instanceof ModelLoadError) {
    return { status: 422, code: 'model_load_failed', message };
  }
  if (err instanceof LogError) {
    return { status: /disk is full/.test(message) ? 507 : /nothing to log|invalid record/.test(message) ? 400 : 500, code: 'log_failed', message };
  }
  return { status: 500, code: 'internal_error', message };
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpError(413, 'too_large', `request body over ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    return {};
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Makes the socket's folder private, and removes a socket left behind by a dead host. */
async function prepareSocket(socket: string): Promise<void> {
  await fs.mkdir(path.dirname(socket), { recursive: true, mode: 0o700 });
  const exists = await fs.lstat(socket).then(
    () => true,
    () => false
  );
  if (!exists) {
    return;
  }
  const alive = await new Promise<boolean>(resolve => {
    const probe = net.connect(socket);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    throw new Error(`the socket ${socket} is in use by another process`);
  }
  await fs.unlink(socket);
}
