/**
 * The standalone host (`datarus serve`) with the real node-llama-cpp and the
 * fixture GGUF: authentication, status, and every bad input the foundation
 * names, each answered clearly while the host stays up.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';

import { CLI, FIXTURE, MANIFESTS_DIR, ROOT } from './paths';
import { getJson, Running, startHost, waitForStatus } from './processes';

jest.setTimeout(300000);

const TOKEN = 'integration-token';
const auth = { Authorization: `Bearer ${TOKEN}` };

/** A models folder holding the fixture plus broken files. */
function makeModelsDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-models-'));
  copyFileSync(FIXTURE, path.join(dir, 'datarus-test-tiny.gguf'));
  writeFileSync(path.join(dir, 'corrupt.gguf'), Buffer.alloc(64 * 1024, 7));
  const fixture = readFileSync(FIXTURE);
  writeFileSync(path.join(dir, 'truncated.gguf'), fixture.subarray(0, Math.floor(fixture.length / 3)));
  writeFileSync(path.join(dir, 'tiny-header.gguf'), fixture.subarray(0, 100));
  return dir;
}

describe('datarus serve (standalone)', () => {
  let host: Running;
  let modelsDir: string;
  const api = (endpoint: string, init: RequestInit = {}) =>
    getJson(`${host.url}/api/${endpoint}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
  const load = (body: unknown) => api('models/load', { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });

  beforeAll(async () => {
    modelsDir = makeModelsDir();
    host = await startHost(['--model', 'datarus-test-tiny', '--models-dir', modelsDir, '--token', TOKEN, '--threads', '1']);
  });

  afterAll(async () => {
    expect(await host.stop()).toBe(0);
  });

  it('refuses requests without the bearer token', async () => {
    const none = await getJson(`${host.url}/api/status`);
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthorized');
    const wrong = await getJson(`${host.url}/api/status`, { headers: { Authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
  });

  it('reports version, backend, model, context size and threads once loaded', async () => {
    const status = await waitForStatus(() => api('status'), s => s.state === 'ready');
    const pkg = JSON.parse(readFileSync(path.join(MANIFESTS_DIR, '..', 'package.json'), 'utf8'));
    // Any backend the host may legitimately choose: CI has none but the CPU, a developer's machine may.
    expect(status).toMatchObject({
      version: pkg.version,
      backend: expect.stringMatching(/^(cpu|cuda|vulkan|metal)$/),
      model: { name: 'datarus-test-tiny', gpuLayers: expect.any(Number), totalLayers: expect.any(Number) },
      contextSize: 8192,
      threads: 1,
      threadsChosenBy: 'option',
      chatWrapper: 'ChatML',
      manifestProblems: []
    });
    // The backend is one the host may choose here: the CPU (then nothing is offloaded), or a GPU it found.
    expect(['cpu', 'cuda', 'vulkan', 'metal']).toContain(status.backend);
    if (status.backend === 'cpu') {
      expect(status.gpu).toBeNull();
      expect(status.model.gpuLayers).toBe(0);
    } else {
      expect(status.gpu).not.toBeNull();
    }
    expect(status.manifests).toEqual(expect.arrayContaining(['datarus-r1-14b', 'gemma-3-270m', 'datarus-test-tiny']));
    expect(status.backends.filter((b: any) => b.ok)).toEqual([{ name: status.backend, ok: true, reason: null, cached: expect.any(Boolean) }]);
    expect(status.gpu === null).toBe(status.backend === 'cpu');
  });

  it('lists manifests with whether each file is present', async () => {
    const { status, body } = await api('models');
    expect(status).toBe(200);
    const byName = Object.fromEntries(body.models.map((m: any) => [m.name, m]));
    expect(byName['datarus-test-tiny']).toMatchObject({ downloaded: true, loaded: true });
    expect(byName['datarus-r1-14b']).toMatchObject({ downloaded: false, loaded: false });
  });

  it.each([
    ['invalid JSON', '{model', 400, 'invalid_json', /not valid JSON/],
    ['no model field', {}, 400, 'invalid_request', /"model"/],
    ['an unknown model name', { model: 'no-such-model' }, 400, 'bad_model', /unknown model "no-such-model"/],
    ['a path outside the models folder', { model: '../../../etc/passwd.gguf' }, 400, 'bad_model', /outside the models folder/],
    ['an absolute path outside', { model: '/etc/hosts.gguf' }, 400, 'bad_model', /outside the models folder/],
    ['a missing file', { model: 'absent.gguf' }, 400, 'bad_model', /no file "absent.gguf"/],
    ['a manifest whose file is not downloaded', { model: 'datarus-r1-14b' }, 422, 'model_load_failed', /not downloaded/],
    ['a file that is not GGUF', { model: 'corrupt.gguf' }, 422, 'model_load_failed', /not a GGUF file/],
    ['a file cut to its first 100 bytes', { model: 'tiny-header.gguf' }, 422, 'model_load_failed', /truncated|not a GGUF/],
    ['a truncated GGUF', { model: 'truncated.gguf' }, 422, 'model_load_failed', /could not be loaded.*corrupt or truncated/s],
    ['a too small context size', { model: 'datarus-test-tiny', contextSize: 3 }, 400, 'invalid_request', /contextSize/]
  ])('answers %s with a clear JSON error and stays up', async (_name, body, status, code, message) => {
    const response = await load(body);
    expect(response.status).toBe(status);
    expect(response.body.error.code).toBe(code);
    expect(response.body.error.message).toMatch(message);
    const after = await api('status');
    expect(after.status).toBe(200);
    expect(after.body.state).toBe('ready');
    expect(after.body.model.name).toBe('datarus-test-tiny');
  });

  it.each([
    ['models/pull', { model: 'datarus-test-tiny', url: 5 }, /^body must be \{"model".*: \/url must be string$/],
    ['models/pull/cancel', {}, /must have required property 'model'/],
    ['log/episodes', { episode: { id: 7, steps: [] } }, /\/episode\/id must be string/],
    ['log/feedback', { episodeId: 'ep-a', step: 0, rating: 'meh' }, /\/rating must be equal to one of the allowed values/],
    ['log/edits', { episodeId: 'ep-a', step: 'one', original: 'a', edited: 'b' }, /\/step must be integer/],
    ['log/export', { format: 'csv' }, /\/format must be equal to one of the allowed values/],
    ['generate', { prompt: 'Q', stream: 'yes' }, /^invalid generation request: \/stream must be boolean$/]
  ])('refuses a %s body its schema does not allow, naming the field', async (endpoint, body, message) => {
    const response = await api(endpoint, { method: 'POST', body: JSON.stringify(body) });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_request');
    expect(response.body.error.message).toMatch(message);
  });

  it('refuses an OpenAI chat whose content is not text, and takes null as an absent field', async () => {
    const v1 = (endpoint: string, body: unknown) =>
      getJson(`${host.url}/v1/${endpoint}`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
    const image = await v1('chat/completions', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] });
    expect(image.status).toBe(400);
    expect(image.body.error).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error' });
    await waitForStatus(() => api('status'), s => s.state === 'ready');
    const plain = await api('generate', { method: 'POST', body: JSON.stringify({ prompt: 'Q\n', grammar: 'root ::= "ok"', maxTokens: null, topK: null, stream: false }) });
    expect(plain.status).toBe(200);
    expect(plain.body.text).toBe('ok');
  });

  it('answers unknown endpoints and wrong methods with JSON errors', async () => {
    expect((await api('nope')).status).toBe(404);
    const wrongMethod = await api('status', { method: 'POST', body: '{}' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.body.error.code).toBe('method_not_allowed');
  });

  it('loads a model by path inside the models folder', async () => {
    const response = await load({ model: 'datarus-test-tiny.gguf', contextSize: 1024 });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ model: 'datarus-test-tiny.gguf', contextSize: 1024 });
    const status = await api('status');
    expect(status.body.model.name).toBe('datarus-test-tiny.gguf');
    expect(status.body.contextSize).toBe(1024);
  });

  it('reports a manifest that fails its schema and serves the others', async () => {
    const manifests = mkdtempSync(path.join(os.tmpdir(), 'datarus-manifests-'));
    mkdirSync(path.join(manifests, 'schema'));
    copyFileSync(path.join(MANIFESTS_DIR, 'schema', 'manifest.schema.json'), path.join(manifests, 'schema', 'manifest.schema.json'));
    copyFileSync(path.join(MANIFESTS_DIR, 'datarus-test-tiny.json'), path.join(manifests, 'datarus-test-tiny.json'));
    writeFileSync(path.join(manifests, 'bad.json'), JSON.stringify({ name: 'Bad Name!', file: 'x.bin' }));
    writeFileSync(path.join(manifests, 'broken.json'), '{');
    const other = await startHost(['--manifests-dir', manifests, '--models-dir', modelsDir, '--model', 'datarus-test-tiny', '--token', TOKEN]);
    try {
      const status = await waitForStatus(
        () => getJson(`${other.url}/api/status`, { headers: auth }),
        s => s.state === 'ready'
      );
      expect(status.manifests).toEqual(['datarus-test-tiny']);
      const problems = Object.fromEntries(status.manifestProblems.map((p: any) => [p.file, p.message]));
      expect(problems['bad.json']).toMatch(/does not match the manifest schema.*\/name/);
      expect(problems['broken.json']).toMatch(/not valid JSON/);
    } finally {
      await other.stop();
    }
  });

  it('with --stay-up-on-load-error (as under Jupyter), says what is wrong when the model to load at start is missing, and stays up', async () => {
    const other = await startHost(['--models-dir', modelsDir, '--model', 'gemma-3-270m', '--token', TOKEN, '--stay-up-on-load-error']);
    try {
      const status = await waitForStatus(
        () => getJson(`${other.url}/api/status`, { headers: auth }),
        s => s.state !== 'starting' && s.state !== 'loading'
      );
      expect(status.state).toBe('idle');
      expect(status.error).toMatch(/model "gemma-3-270m" is not downloaded/);
      const retry = await getJson(`${other.url}/api/models/load`, { method: 'POST', headers: auth, body: JSON.stringify({ model: 'datarus-test-tiny' }) });
      expect(retry.status).toBe(200);
    } finally {
      await other.stop();
    }
  });
});

describe('datarus serve --model: the user\'s own path', () => {
  /** The fixture where the user keeps models: outside any models folder. */
  function userModel(): string {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-user-')), 'my model.gguf');
    copyFileSync(FIXTURE, file);
    return file;
  }

  it('loads a .gguf anywhere given on the command line, while the HTTP load API still refuses that path', async () => {
    const file = userModel();
    const modelsDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-models-'));
    const host = await startHost(['--models-dir', modelsDir, '--model', file, '--token', TOKEN, '--threads', '1']);
    try {
      const status = await waitForStatus(() => getJson(`${host.url}/api/status`, { headers: auth }), s => s.state === 'ready');
      expect(status.model).toMatchObject({ name: 'my model.gguf', path: file });
      const refused = await getJson(`${host.url}/api/models/load`, { method: 'POST', headers: auth, body: JSON.stringify({ model: file }) });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 'bad_model', message: expect.stringMatching(/outside the models folder/) });
    } finally {
      await host.stop();
    }
  });

  it('loads a path relative to the working folder', async () => {
    const file = userModel();
    const modelsDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-models-'));
    const relative = path.relative(ROOT, file);
    const host = await startHost(['--models-dir', modelsDir, '--model', relative, '--token', TOKEN, '--threads', '1']);
    try {
      const status = await waitForStatus(() => getJson(`${host.url}/api/status`, { headers: auth }), s => s.state === 'ready');
      expect(status.model.path).toBe(file);
    } finally {
      await host.stop();
    }
  });

  it.each([
    ['a missing file', '/no/such/dir/model.gguf', /no file "\/no\/such\/dir\/model\.gguf"/],
    ['a file that is not a GGUF', 'corrupt.gguf', /corrupt\.gguf/],
    ['a manifest whose file is not downloaded', 'gemma-3-270m', /model "gemma-3-270m" is not downloaded/]
  ])('exits non-zero with the reason when the model cannot load: %s', async (_what, model, reason) => {
    const modelsDir = makeModelsDir();
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync(process.execPath, [CLI, 'serve', '--port', '0', '--token', TOKEN, '--models-dir', modelsDir, '--model', model], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60000
    });
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(reason);
    expect(result.stderr).toContain(`could not load the model "${model}"; exiting`);
  });
});

describe('datarus serve start-up errors', () => {
  it('exits with a clear message when the port is taken', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as net.AddressInfo;
    try {
      await expect(startHost(['--port', String(port), '--token', TOKEN])).rejects.toThrow(
        new RegExp(`port ${port} on 127.0.0.1 is in use: choose another with --port`)
      );
    } finally {
      blocker.close();
    }
  });

  it('generates and prints a token when none is given', async () => {
    const host = await startHost([], { DATARUS_HOST_TOKEN: '' });
    try {
      await new Promise(r => setTimeout(r, 200));
      const token = /token: (\S+)/.exec(host.output())?.[1];
      expect(token).toBeTruthy();
      expect((await getJson(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      await host.stop();
    }
  });

  it('refuses a socket that another live process listens on, and replaces a stale one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-sock-'));
    const socket = path.join(dir, 'host.sock');
    const blocker = net.createServer().listen(socket);
    await once(blocker, 'listening');
    const { spawnSync } = await import('node:child_process');
    const { CLI } = await import('./paths');
    const busy = spawnSync(process.execPath, [CLI, 'serve', '--socket', socket], {
      env: { ...process.env, DATARUS_HOST_TOKEN: TOKEN },
      encoding: 'utf8',
      timeout: 30000
    });
    expect(busy.status).toBe(2);
    expect(busy.stderr).toMatch(/socket .* is in use by another process/);
    blocker.close();
    await once(blocker, 'close');
    // A file left behind by a dead host: the new host removes it and listens.
    symlinkSync('/nonexistent', path.join(dir, 'stale.sock'));
    const stale = path.join(dir, 'stale.sock');
    const { spawn } = await import('node:child_process');
    const proc = spawn(process.execPath, [CLI, 'serve', '--socket', stale], { env: { ...process.env, DATARUS_HOST_TOKEN: TOKEN } });
    let err = '';
    proc.stderr.on('data', d => (err += d));
    const deadline = Date.now() + 30000;
    while (!err.includes('listening on unix:') && Date.now() < deadline && proc.exitCode === null) {
      await new Promise(r => setTimeout(r, 50));
    }
    expect(err).toContain(`listening on unix:${stale}`);
    proc.kill('SIGTERM');
    await once(proc, 'exit');
  });
});
