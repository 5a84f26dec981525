/**
 * Kernels for headless episodes, from Jupyter servers reached with
 * `@jupyterlab/services`: a private one started here (a temporary root, a
 * random token, 127.0.0.1 only) or running ones given by URL (`--jupyter-url`,
 * one or several: a server per machine, or a Kernel Gateway's Jupyter API).
 *
 * Each episode gets a folder of its own on the server with its data files in
 * it, and a kernel whose working folder is that folder (a session whose path
 * lies there). Files go up through the contents API in chunks, so remote
 * servers need no shared disk; for the private server they are copied in
 * directly. Episodes are spread over the servers: the one with the fewest
 * kernels in use gets the next.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Kernel, ServerConnection as ServerConnectionNs, Session } from '@jupyterlab/services';

import { KernelRunner } from '../agent/kernelRunner';
import type { CodeRunner } from '../agent/types';
import { findJupyter, JupyterProcess, startJupyter } from './jupyterProcess';
import { offlineKernels, offlineKernelsUnavailable } from './offlineKernels';
import { nodeServerSettings } from './serverSettings';

export interface JupyterEndpoint {
  /** Base URL of the server, e.g. `http://node7:8888/` (a `?token=` in it is taken as the token). */
  url: string;
  token: string;
}

/** A data file to put in an episode's folder: `name` there, read from `source` here. */
export interface DataFile {
  name: string;
  source: string;
}

export interface KernelLease {
  runner: CodeRunner;
  kernel: Kernel.IKernelConnection;
  /** The episode's folder, relative to the server's root. */
  folder: string;
  server: string;
  /** Shuts the kernel down (its folder stays, with what the code wrote). */
  dispose(): Promise<void>;
}

export class KernelError extends Error {
  name = 'KernelError';
}

/** Bytes per upload request: the contents API takes a file in numbered chunks. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/** Splits `--jupyter-url URL` into its base and a token given in its query (`?token=…`). */
export function parseJupyterUrl(value: string, defaultToken = ''): JupyterEndpoint {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new KernelError(`not a URL: ${value}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KernelError(`a Jupyter server URL must be http or https: ${value}`);
  }
  const token = url.searchParams.get('token') ?? defaultToken;
  url.search = '';
  url.hash = '';
  const base = url.toString();
  return { url: base.endsWith('/') ? base : `${base}/`, token };
}

/** A name that is safe as one path segment on any server. */
export function safeSegment(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  return (cleaned || 'task').slice(0, 80);
}

class Server {
  constructor(
    readonly endpoint: JupyterEndpoint,
    /** The root folder on this machine, for a server started here (files are copied, not uploaded). */
    readonly localRoot: string | null,
    readonly sessions: Session.IManager,
    readonly kernels: Kernel.IManager,
    readonly settings: ServerConnectionNs.ISettings
  ) {}

  inUse = 0;

  async request(p: string, init: RequestInit = {}): Promise<Response> {
    const url = new URL(p, this.endpoint.url);
    const headers = { 'Content-Type': 'application/json', ...(this.endpoint.token ? { Authorization: `token ${this.endpoint.token}` } : {}) };
    return fetch(url, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });
  }
}

export class KernelPool {
  /** Whether the kernels have network, for the run's log (null: servers given by URL, their own business). */
  networkNote: string | null = null;

  private constructor(
    private readonly _servers: Server[],
    private readonly _stop: () => Promise<void>,
    private readonly _run: string
  ) {}

  /** Kernels from running Jupyter servers. */
  static async remote(endpoints: JupyterEndpoint[]): Promise<KernelPool> {
    const servers = await Promise.all(endpoints.map(e => connect(e, null)));
    for (const server of servers) {
      const status = await server.request('api/status').catch((err: Error) => {
        throw new KernelError(`the Jupyter server ${server.endpoint.url} could not be reached: ${err.message}`);
      });
      if (!status.ok) {
        throw new KernelError(`the Jupyter server ${server.endpoint.url} answered ${status.status} to /api/status${status.status === 403 ? ' (wrong or missing token?)' : ''}`);
      }
    }
    return new KernelPool(servers, async () => undefined, runName());
  }

  /**
   * A private Jupyter server on 127.0.0.1, rooted in a new temporary folder, stopped by `close()`.
   * Its kernels have no network where the OS allows it, unless `network` is true; `networkNote`
   * says which it is.
   */
  static async local(options: { jupyter?: string; network?: boolean } = {}): Promise<KernelPool> {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'datarus-run-'));
    const jupyter = options.jupyter ?? findJupyter();
    const removeRoot = () => fs.rm(root, { recursive: true, force: true }).catch(() => undefined);
    let started: JupyterProcess;
    let networkNote: string;
    try {
      const unavailable = options.network ? null : offlineKernelsUnavailable();
      const offline = options.network || unavailable ? null : await offlineKernels(root);
      networkNote = options.network ? 'kernels with network (--kernel-network)' : offline ? 'kernels without network' : `kernels with network: ${unavailable}`;
      started = await startJupyter({
        jupyter,
        root,
        // Should this process be killed outright, the server and its kernels do not stay forever:
        // kernels idle for an hour are culled, then the server leaves after ten idle minutes.
        args: ['--MappingKernelManager.cull_idle_timeout=3600', '--MappingKernelManager.cull_interval=300', '--ServerApp.shutdown_no_activity_timeout=600', ...(offline?.args ?? [])],
        env: { ...process.env, JUPYTER_CONFIG_DIR: path.join(root, '.jupyter-config'), ...(offline?.env ?? {}) },
        keepOutput: 20000
      });
    } catch (e) {
      await removeRoot();
      const hint = /^could not start/.test((e as Error).message) ? '; install JupyterLab or Jupyter Server, set $DATARUS_JUPYTER, or pass --jupyter-url' : '';
      throw new KernelError(`the Jupyter server for the kernels: ${(e as Error).message}${hint}`);
    }
    const stop = () => started.stop(15000).then(removeRoot);
    try {
      const server = await connect({ url: `${started.url}/`, token: started.token }, root);
      const pool = new KernelPool([server], stop, runName());
      pool.networkNote = networkNote;
      return pool;
    } catch (e) {
      await stop();
      throw e;
    }
  }

  /** The servers, for messages. */
  get urls(): string[] {
    return this._servers.map(s => s.endpoint.url);
  }

  /**
   * A fresh kernel in a folder of its own (`<run>/<name>`) holding `files`.
   * A missing data file is an error before any kernel starts.
   */
  async open(name: string, files: DataFile[]): Promise<KernelLease> {
    for (const f of files) {
      const stat = await fs.stat(f.source).catch(() => null);
      if (!stat?.isFile()) {
        throw new KernelError(`the data file ${f.source} does not exist`);
      }
    }
    const server = this._servers.reduce((a, b) => (b.inUse < a.inUse ? b : a));
    server.inUse++;
    const folder = `${this._run}/${safeSegment(name)}`;
    let session: Session.ISessionConnection | null = null;
    try {
      await this._putFiles(server, folder, files);
      session = await server.sessions.startNew({ path: `${folder}/episode.ipynb`, type: 'notebook', name: 'episode.ipynb', kernel: { name: 'python3' } });
      const kernel = session.kernel;
      if (!kernel) {
        throw new KernelError('the server started a session without a kernel');
      }
      await kernel.info;
      const owned = session;
      let disposed = false;
      const lease: KernelLease = {
        runner: new KernelRunner(kernel),
        kernel,
        folder,
        server: server.endpoint.url,
        dispose: async () => {
          if (disposed) {
            return;
          }
          disposed = true;
          this._open.delete(lease);
          server.inUse--;
          await settle(kernel);
          await owned.shutdown().catch(() => undefined);
          owned.dispose();
        }
      };
      this._open.add(lease);
      return lease;
    } catch (err) {
      server.inUse--;
      await session?.shutdown().catch(() => undefined);
      throw err instanceof KernelError ? err : new KernelError(`no kernel from ${server.endpoint.url}: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this._open].map(lease => lease.dispose()));
    for (const server of this._servers) {
      // Only the sessions this run started: a shared server's other kernels are someone else's.
      server.sessions.dispose();
      server.kernels.dispose();
    }
    await this._stop();
  }

  private readonly _open = new Set<KernelLease>();

  private async _putFiles(server: Server, folder: string, files: DataFile[]): Promise<void> {
    if (server.localRoot) {
      const dir = path.join(server.localRoot, ...folder.split('/'));
      await fs.mkdir(dir, { recursive: true });
      for (const f of files) {
        await fs.copyFile(f.source, path.join(dir, path.basename(f.name)));
      }
      return;
    }
    let at = '';
    for (const segment of folder.split('/')) {
      at = at ? `${at}/${segment}` : segment;
      await this._contents(server, at, { type: 'directory' });
    }
    for (const f of files) {
      const data = await fs.readFile(f.source);
      const target = `${folder}/${path.basename(f.name)}`;
      if (data.length <= CHUNK_BYTES) {
        await this._contents(server, target, { type: 'file', format: 'base64', content: data.toString('base64') });
        continue;
      }
      // Chunks are numbered from 1; -1 marks the last (jupyter_server's large-file contents manager).
      for (let offset = 0, chunk = 1; offset < data.length; offset += CHUNK_BYTES, chunk++) {
        const last = offset + CHUNK_BYTES >= data.length;
        await this._contents(server, target, { type: 'file', format: 'base64', chunk: last ? -1 : chunk, content: data.subarray(offset, offset + CHUNK_BYTES).toString('base64') });
      }
    }
  }

  private async _contents(server: Server, p: string, body: object): Promise<void> {
    const encoded = p.split('/').map(encodeURIComponent).join('/');
    const response = await server.request(`api/contents/${encoded}`, { method: 'PUT', body: JSON.stringify(body) });
    if (!response.ok) {
      throw new KernelError(`uploading ${p} to ${server.endpoint.url} failed: ${response.status} ${(await response.text()).slice(0, 200)}`);
    }
  }
}

async function connect(endpoint: JupyterEndpoint, localRoot: string | null): Promise<Server> {
  const { KernelManager, SessionManager } = await import('@jupyterlab/services');
  const settings = await nodeServerSettings(endpoint.url, endpoint.token);
  const kernelManager = new KernelManager({ serverSettings: settings });
  const sessions = new SessionManager({ kernelManager, serverSettings: settings });
  // Disposed before their first poll (the model failed to start, say), the managers reject `ready`;
  // nobody waits on it then, and an unhandled rejection would end the process with a stack trace.
  sessions.ready.catch(() => undefined);
  kernelManager.ready.catch(() => undefined);
  return new Server(endpoint, localRoot, sessions, kernelManager, settings);
}

/**
 * After a kernel died the server restarts it and `@jupyterlab/services` reconnects in a promise of
 * its own, which rejects if the connection is disposed first: wait a little for that to settle.
 */
async function settle(kernel: Kernel.IKernelConnection): Promise<void> {
  for (let i = 0; i < 100 && !kernel.isDisposed && (kernel.connectionStatus !== 'connected' || kernel.status === 'autorestarting' || kernel.status === 'restarting'); i++) {
    await new Promise(r => setTimeout(r, 100));
  }
}

function runName(): string {
  return `datarus-runs/${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
}
