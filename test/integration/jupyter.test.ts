/**
 * The host under a real Jupyter server: Jupyter's authentication in front,
 * lazy start, restart after a crash, stop with the server, and clear errors
 * when the host cannot run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

import { getJson, RunningJupyter, startJupyter, waitForStatus } from './processes';

jest.setTimeout(300000);

// Thread calibration at load can take a minute on a loaded 2-core machine: wait long, assert no time.
const READY_WAIT_MS = 240000;

/** Backends the host may choose on this machine: the CPU always, a GPU backend where one works. */
const LEGITIMATE_BACKENDS = ['cpu', 'cuda', 'vulkan', 'metal'];

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('Datarus Lab under Jupyter', () => {
  let jupyter: RunningJupyter;
  const api = (endpoint: string, init: RequestInit = {}) =>
    getJson(`${jupyter.url}/datarus/${endpoint}`, {
      ...init,
      headers: { Authorization: `token ${jupyter.token}`, ...(init.headers ?? {}) }
    });
  /** The pid of this server's own host, as the host reports it (never a machine-wide search). */
  const hostPid = async (): Promise<number> => {
    const status = await waitForStatus(() => api('api/status'), s => s.state === 'ready');
    expect(status.pid).toBeGreaterThan(0);
    return status.pid;
  };

  beforeAll(async () => {
    jupyter = await startJupyter();
  });

  afterAll(async () => {
    await jupyter?.stop();
  });

  it('answers 403 without Jupyter authentication, and starts nothing for it', async () => {
    const before = await api('host-state');
    expect(before.body.running).toBe(false);
    for (const endpoint of ['api/status', 'api/models', 'host-state']) {
      const response = await getJson(`${jupyter.url}/datarus/${endpoint}`);
      expect(response.status).toBe(403);
    }
    const post = await getJson(`${jupyter.url}/datarus/api/models/load`, { method: 'POST', body: '{"model":"x"}' });
    expect(post.status).toBe(403);
    expect((await api('host-state')).body.running).toBe(false);
  });

  it('starts the host lazily on the first authenticated request and serves its status', async () => {
    const status = await waitForStatus(() => api('api/status'), s => s.state === 'ready', READY_WAIT_MS);
    expect(status).toMatchObject({ model: { name: 'datarus-test-tiny' }, chatWrapper: 'ChatML' });
    expect(LEGITIMATE_BACKENDS).toContain(status.backend);
    if (status.model.gpuLayers > 0) {
      // Offloaded to a GPU, the host keeps node-llama-cpp's thread default: nothing to measure.
      expect(status.backend).not.toBe('cpu');
      return;
    }
    // On the CPU, with no thread count configured, the host timed every count from 1 to the cores and
    // kept the fewest threads within 10% of the fastest.
    expect(status.threadsChosenBy).toBe('measured');
    expect(status.threadMeasurements.map((m: any) => m.threads)).toEqual(Array.from({ length: status.cores }, (_, i) => i + 1));
    const fastest = Math.max(...status.threadMeasurements.map((m: any) => m.tokensPerSecond));
    const chosen = status.threadMeasurements.find((m: any) => m.threads === status.threads);
    expect(chosen.tokensPerSecond).toBeGreaterThanOrEqual(0.9 * fastest);
    expect(status.threadMeasurements.filter((m: any) => m.threads < status.threads && m.tokensPerSecond >= 0.9 * fastest)).toEqual([]);
    const state = await api('host-state');
    expect(state.body).toMatchObject({ running: true, starts: 1, restarts: 0 });
  });

  it('opens no TCP port for the host: it listens on a private unix socket', async () => {
    const pid = await hostPid();
    const sockets = execFileSync('ss', ['-lntpx'], { encoding: 'utf8' });
    const mine = sockets.split('\n').filter(line => line.includes(`pid=${pid},`));
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every(line => line.startsWith('u_str'))).toBe(true);
  });

  it('forwards host errors with their status and message', async () => {
    const response = await api('api/models/load', { method: 'POST', body: JSON.stringify({ model: '../../secret.gguf' }) });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/outside the models folder/);
  });

  it('restarts the host on the next request after it was killed', async () => {
    const pid = await hostPid();
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) {
      await new Promise(r => setTimeout(r, 20));
    }
    const status = await waitForStatus(() => api('api/status'), s => s.state === 'ready', READY_WAIT_MS);
    expect(status.pid).not.toBe(pid);
    const state = await api('host-state');
    expect(state.body).toMatchObject({ running: true, restarts: 1, lastExitCode: -9 });
  });

  it('stops the host with the server', async () => {
    const pids = [await hostPid()];
    await jupyter.stop();
    const deadline = Date.now() + 15000;
    while (pids.some(alive) && Date.now() < deadline) {
      await new Promise(r => setTimeout(r, 50));
    }
    expect(pids.filter(alive)).toEqual([]);
  });

  it('the host exits by itself when the server is killed outright', async () => {
    const other = await startJupyter();
    try {
      const status = await waitForStatus(
        () => getJson(`${other.url}/datarus/api/status`, { headers: { Authorization: `token ${other.token}` } }),
        s => s.state === 'ready',
        READY_WAIT_MS
      );
      const pids = [status.pid];
      expect(pids[0]).toBeGreaterThan(0);
      other.proc.kill('SIGKILL');
      const deadline = Date.now() + 15000;
      while (pids.some(alive) && Date.now() < deadline) {
        await new Promise(r => setTimeout(r, 50));
      }
      expect(pids.filter(alive)).toEqual([]);
    } finally {
      await other.stop();
    }
  });
});

describe('Datarus Lab under Jupyter when the host cannot run', () => {
  it('says Node.js is missing, and keeps serving', async () => {
    const jupyter = await startJupyter(['--DatarusLabApp.node=/nonexistent/node']);
    try {
      const auth = { Authorization: `token ${jupyter.token}` };
      const response = await getJson(`${jupyter.url}/datarus/api/status`, { headers: auth });
      expect(response.status).toBe(503);
      expect(response.body.error.code).toBe('host_unavailable');
      expect(response.body.error.message).toMatch(/Node\.js was not found.*Install Node\.js 20 or newer/);
      expect((await getJson(`${jupyter.url}/api/status`, { headers: auth })).status).toBe(200);
    } finally {
      await jupyter.stop();
    }
  });

  it('says the host is not built when lib-node is missing', async () => {
    const jupyter = await startJupyter(['--DatarusLabApp.host_dir=/tmp']);
    try {
      const response = await getJson(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } });
      expect(response.status).toBe(503);
      expect(response.body.error.message).toMatch(/model host is not built: .*lib-node\/cli\/index\.js is missing/);
      expect(existsSync('/tmp/lib-node')).toBe(false);
    } finally {
      await jupyter.stop();
    }
  });

  it('reports why the host exited at start', async () => {
    const jupyter = await startJupyter(['--DatarusLabApp.threads=-3']);
    try {
      const response = await getJson(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } });
      expect(response.status).toBe(503);
      expect(response.body.error.message).toMatch(/exited at start \(code 1\).*--threads/s);
      expect(response.body.host.lastError).toMatch(/exited at start/);
    } finally {
      await jupyter.stop();
    }
  });
});
