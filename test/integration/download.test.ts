/**
 * Model downloads against a local HTTP server that serves a GGUF slowly and
 * honours Range requests: progress, resume after an interruption, checksum
 * mismatch, never a half file under the final name; through the CLI and the host.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { CLI, FIXTURE, MANIFESTS_DIR, ROOT } from './paths';
import { getJson, startHost, waitForStatus } from './processes';

jest.setTimeout(300000);

const GGUF = readFileSync(FIXTURE);
const SHA = createHash('sha256').update(GGUF).digest('hex');

interface ModelServer {
  url: string;
  ranges: (string | undefined)[];
  close: () => Promise<void>;
}

/** Serves the fixture at `/model.gguf`, `chunk` bytes every `everyMs`, with Range support. */
async function serveModel(chunk = 16384, everyMs = 40): Promise<ModelServer> {
  const ranges: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    if (req.url !== '/model.gguf') {
      res.writeHead(404).end('not here');
      return;
    }
    ranges.push(req.headers.range);
    let start = 0;
    const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (match) {
      start = Number(match[1]);
      if (start >= GGUF.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${GGUF.length}` }).end();
        return;
      }
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${GGUF.length - 1}/${GGUF.length}`, 'Content-Length': GGUF.length - start });
    } else {
      res.writeHead(200, { 'Content-Length': GGUF.length, 'Accept-Ranges': 'bytes' });
    }
    let pos = start;
    const timer = setInterval(() => {
      if (res.destroyed || pos >= GGUF.length) {
        clearInterval(timer);
        res.end();
        return;
      }
      res.write(GGUF.subarray(pos, pos + chunk));
      pos += chunk;
    }, everyMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/model.gguf`,
    ranges,
    close: async () => {
      server.closeAllConnections();
      server.close();
    }
  };
}

/** A manifests folder with one downloadable manifest pointing at `url`. */
function manifestsFor(url: string, extra: object = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-pull-manifests-'));
  mkdirSync(path.join(dir, 'schema'));
  copyFileSync(path.join(MANIFESTS_DIR, 'schema', 'manifest.schema.json'), path.join(dir, 'schema', 'manifest.schema.json'));
  const manifest = {
    name: 'remote-tiny',
    displayName: 'Remote tiny',
    role: 'test-fixture',
    file: 'remote-tiny.gguf',
    source: { kind: 'url', ggufUrl: url, verified: true },
    sha256: SHA,
    sizeBytes: GGUF.length,
    contextSize: 2048,
    sampling: {},
    stopStrings: ['</step>'],
    ...extra
  };
  writeFileSync(path.join(dir, 'remote-tiny.json'), JSON.stringify(manifest));
  return dir;
}

function runPull(args: string[]): { proc: ChildProcess; done: Promise<{ code: number | null; stderr: string }> } {
  const proc = spawn(process.execPath, [CLI, 'models', 'pull', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', d => (stderr += d));
  const done = once(proc, 'exit').then(([code]) => ({ code: code as number | null, stderr }));
  return { proc, done };
}

describe('datarus models pull', () => {
  let server: ModelServer;

  beforeEach(async () => {
    server = await serveModel();
  });

  afterEach(async () => {
    await server.close();
  });

  it('downloads, verifies the checksum and shows progress', async () => {
    const modelsDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-pull-'));
    const { done } = runPull(['remote-tiny', '--manifests-dir', manifestsFor(server.url), '--models-dir', modelsDir]);
    const { code, stderr } = await done;
    expect(code).toBe(0);
    expect(stderr).toMatch(/sha256 [0-9a-f]{64}, verified/);
    expect(stderr).toMatch(/100%/);
    expect(readFileSync(path.join(modelsDir, 'remote-tiny.gguf')).equals(GGUF)).toBe(true);
    expect(existsSync(path.join(modelsDir, 'remote-tiny.gguf.part'))).toBe(false);
  });

  it('resumes after an interruption and never leaves a half file under the final name', async () => {
    const modelsDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-pull-'));
    const manifests = manifestsFor(server.url);
    const part = path.join(modelsDir, 'remote-tiny.gguf.part');
    const first = runPull(['remote-tiny', '--manifests-dir', manifests, '--models-dir', modelsDir]);
    while (!existsSync(part) || statSync(part).size < 64 * 1024) {
      await new Promise(r => setTimeout(r, 10));
    }
    first.proc.kill('SIGINT');
    const interrupted = await first.done;
    expect(interrupted.code).not.toBe(0);
    expect(interrupted.stderr).toMatch(/cancelled; \d+ bytes kept/);
    expect(existsSync(path.join(modelsDir, 'remote-tiny.gguf'))).toBe(false);
    const kept = statSync(part).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(GGUF.length);

    const second = await runPull(['remote-tiny', '--manifests-dir', manifests, '--models-dir', modelsDir]).done;
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/resuming at/);
    expect(server.ranges).toEqual([undefined, `bytes=${kept}-`]);
    expect(readFileSync(path.join(modelsDir, 'remote-tiny.gguf')).equals(GGUF)).toBe(true);
  });

  it('refuses a file whose checksum does not match, and deletes it', async () => {
    const modelsDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-pull-'));
    const manifests = manifestsFor(server.url, { sha256: 'f'.repeat(64) });
    const { code, stderr } = await runPull(['remote-tiny', '--manifests-dir', manifests, '--models-dir', modelsDir]).done;
    expect(code).toBe(1);
    expect(stderr).toMatch(/checksum mismatch: expected sha256 f{64}, got [0-9a-f]{64}/);
    expect(existsSync(path.join(modelsDir, 'remote-tiny.gguf'))).toBe(false);
    expect(existsSync(path.join(modelsDir, 'remote-tiny.gguf.part'))).toBe(false);
  });

  it('says what went wrong when the server answers an error', async () => {
    const modelsDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-pull-'));
    const manifests = manifestsFor(server.url.replace('model.gguf', 'missing.gguf'));
    const { code, stderr } = await runPull(['remote-tiny', '--manifests-dir', manifests, '--models-dir', modelsDir]).done;
    expect(code).toBe(1);
    expect(stderr).toMatch(/answered HTTP 404/);
  });
});

describe('download through the host', () => {
  it('pulls a model with progress, then loads it', async () => {
    const server = await serveModel(32768, 20);
    const modelsDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-pull-'));
    const token = 'pull-token';
    const headers = { Authorization: `Bearer ${token}` };
    const host = await startHost(['--manifests-dir', manifestsFor(server.url), '--models-dir', modelsDir, '--token', token]);
    try {
      await waitForStatus(() => getJson(`${host.url}/api/status`, { headers }), s => s.state === 'idle');
      const started = await getJson(`${host.url}/api/models/pull`, { method: 'POST', headers, body: JSON.stringify({ model: 'remote-tiny' }) });
      expect(started.status).toBe(202);
      expect(started.body).toMatchObject({ model: 'remote-tiny', state: 'downloading' });
      const again = await getJson(`${host.url}/api/models/pull`, { method: 'POST', headers, body: JSON.stringify({ model: 'remote-tiny' }) });
      expect(again.status).toBe(409);
      let sawProgress = false;
      const done = await waitForStatus(
        () => getJson(`${host.url}/api/models/pulls`, { headers }),
        body => {
          const pull = body.pulls[0];
          sawProgress ||= pull.state === 'downloading' && pull.progress?.percent > 0 && pull.progress.percent < 100;
          return pull.state !== 'downloading';
        }
      );
      expect(done.pulls[0]).toMatchObject({ state: 'done', result: { bytes: GGUF.length, sha256: SHA } });
      expect(sawProgress).toBe(true);
      const loaded = await getJson(`${host.url}/api/models/load`, { method: 'POST', headers, body: JSON.stringify({ model: 'remote-tiny' }) });
      expect(loaded.status).toBe(200);
      const unknown = await getJson(`${host.url}/api/models/pull`, { method: 'POST', headers, body: JSON.stringify({ model: 'nope' }) });
      expect(unknown.status).toBe(404);
    } finally {
      await host.stop();
      await server.close();
    }
  });

  it('cancels a pull: it stops, says cancelled, leaves no file under the final name, and a new pull finishes it', async () => {
    const server = await serveModel(4096, 100); // slow enough to cancel mid-way
    const modelsDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-pull-'));
    const token = 'pull-token';
    const headers = { Authorization: `Bearer ${token}` };
    const host = await startHost(['--manifests-dir', manifestsFor(server.url), '--models-dir', modelsDir, '--token', token]);
    const pulls = () => getJson(`${host.url}/api/models/pulls`, { headers });
    const cancel = () => getJson(`${host.url}/api/models/pull/cancel`, { method: 'POST', headers, body: JSON.stringify({ model: 'remote-tiny' }) });
    try {
      await waitForStatus(() => getJson(`${host.url}/api/status`, { headers }), s => s.state === 'idle');
      expect((await getJson(`${host.url}/api/models/pull`, { method: 'POST', headers, body: JSON.stringify({ model: 'remote-tiny' }) })).status).toBe(202);
      await waitForStatus(pulls, body => body.pulls[0].progress?.downloadedBytes > 0);
      const cancelled = await cancel();
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toEqual({ cancelled: true });
      const ended = await waitForStatus(pulls, body => body.pulls[0].state !== 'downloading');
      expect(ended.pulls[0].state).toBe('cancelled');
      expect(ended.pulls[0].progress.downloadedBytes).toBeLessThan(GGUF.length);
      // The resumed pull asks only for the rest: the cancelled bytes were kept for it.
      const resumedFrom = ended.pulls[0].progress.downloadedBytes;
      expect(existsSync(path.join(modelsDir, 'remote-tiny.gguf'))).toBe(false);
      const listed = (await getJson(`${host.url}/api/models`, { headers })).body.models.find((m: any) => m.name === 'remote-tiny');
      expect(listed).toMatchObject({ downloaded: false });
      // Nothing left to cancel; a new pull completes the file, checksum verified.
      expect((await cancel()).body).toEqual({ cancelled: false });
      expect((await getJson(`${host.url}/api/models/pull`, { method: 'POST', headers, body: JSON.stringify({ model: 'remote-tiny' }) })).status).toBe(202);
      const done = await waitForStatus(pulls, body => body.pulls[0].state !== 'downloading');
      expect(done.pulls[0]).toMatchObject({ state: 'done', result: { bytes: GGUF.length, sha256: SHA } });
      expect(readFileSync(path.join(modelsDir, 'remote-tiny.gguf')).equals(GGUF)).toBe(true);
      expect(server.ranges[server.ranges.length - 1]).toMatch(/^bytes=\d+-$/);
      expect(Number(/\d+/.exec(server.ranges[server.ranges.length - 1]!)![0])).toBeGreaterThan(0);
      expect(resumedFrom).toBeGreaterThan(0);
    } finally {
      await host.stop();
      await server.close();
    }
  });
});
