/**
 * The host's HTTP API. Under Jupyter it listens on a private unix socket and the
 * server extension forwards authenticated requests to it; standalone it listens
 * on 127.0.0.1. Either way every request needs the host's bearer token.
 */
import { timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

import { AgentSessions } from '../sessions/agentSessions';
import type { Engine } from '../engine';
import type { EpisodeStore } from '../episodes/episodeStore';
import { DomainError } from '../errors';
import { PullTable } from '../models/pull';
import { agentRoutes } from './routes/agent';
import { errorResponse } from './routes/errorStatus';
import { generateRoutes } from './routes/generate';
import { logRoutes } from './routes/log';
import { modelRoutes } from './routes/models';
import { openaiRoutes } from './routes/openai';
import { Route, sendJson } from './routes/route';
import { statusRoutes } from './routes/status';

export type Listen = { socket: string } | { host: '127.0.0.1'; port: number };

const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Listening, the bearer token, body reading and dispatch; what each endpoint
 * does and what its body must be live in `routes/`.
 */
export class HostServer {
  constructor(
    private readonly _engine: Engine,
    private readonly _token: string,
    private readonly _store: EpisodeStore | null = null
  ) {
    this._pulls = new PullTable(this._engine.modelsDir);
    this._sessions = new AgentSessions(this._engine, this._store);
    this._routes = [
      ...statusRoutes(this._engine),
      ...modelRoutes(this._engine, this._pulls),
      ...logRoutes(this._store),
      ...generateRoutes(this._engine),
      ...openaiRoutes(this._engine),
      ...agentRoutes(this._sessions)
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

  /**
   * Stops accepting connections and resolves once every open one has ended;
   * responses still running after `graceMs` (a stream nobody stopped) are cut.
   */
  async close(graceMs = 5000): Promise<void> {
    this._pulls.cancelAll();
    this._sessions.closeAll();
    this._closing = true;
    const closed = new Promise<void>(resolve => this._server.close(() => resolve()));
    this._server.closeIdleConnections();
    const timer = setTimeout(() => this._server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  private async _handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this._authorized(req)) {
      throw new DomainError('unauthorized', 'missing or wrong bearer token (Authorization: Bearer <token>)');
    }
    const url = new URL(req.url ?? '/', 'http://host');
    const matching = this._routes.filter(r => r.path.test(url.pathname));
    const route = matching.find(r => r.method === req.method);
    if (!route) {
      throw matching.length > 0
        ? new DomainError('method_not_allowed', `${req.method} is not allowed on ${url.pathname}`)
        : new DomainError('not_found', `no endpoint ${url.pathname}`);
    }
    const params = route.path.exec(url.pathname)!.slice(1).map(decodePathPart);
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    await route.handle(req, res, body, params);
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

  private _error(res: http.ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const { status, body } = errorResponse(err);
    sendJson(res, status, body);
  }

  private _closing = false;
  private readonly _routes: Route[];
  private readonly _pulls: PullTable;
  private readonly _sessions: AgentSessions;
  private readonly _server: http.Server;
}

/** A percent-decoded path segment; a malformed escape is the client's error, not the server's. */
function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new DomainError('invalid_request', `"${part}" in the path is not valid percent-encoding`);
  }
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new DomainError('too_large', `request body over ${MAX_BODY_BYTES} bytes`);
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
    throw new DomainError('invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
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
