/**
 * The host under hostile and unlucky input, on the real node-llama-cpp with the
 * fixture GGUF: grammars that would crash llama.cpp's parser, model loads
 * during generation, bursts of first requests, prompts too long to tokenize
 * quickly, malformed paths, SIGTERM while busy, and how the token is passed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { readEvents } from '../../src/agent/sse';
import { CLI, ROOT } from './paths';
import { getJson, Running, startHost, waitForOutput, waitForStatus } from './processes';

jest.setTimeout(180000);

const TOKEN = 'hardening-token';
const HEADERS = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
/** The fixture's context size, as its manifest gives it. */
const CONTEXT = 8192;
/** Endless output: generation runs until maxTokens or a stop. */
const FOREVER = 'root ::= "v" root';

interface Streamed {
  chunks: number;
  done: any;
  error: any;
}

/** Streams /api/generate, calling `onFirstChunk` once generation has visibly started. */
async function stream(url: string, body: object, onFirstChunk?: () => void): Promise<Streamed> {
  const response = await fetch(`${url}/api/generate`, { method: 'POST', headers: HEADERS, body: JSON.stringify(body) });
  if (!response.ok) {
    throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  }
  const result: Streamed = { chunks: 0, done: null, error: null };
  await readEvents(response, ({ event, data }) => {
    if (event === 'chunk' && result.chunks++ === 0) {
      onFirstChunk?.();
    } else if (event === 'done') {
      result.done = JSON.parse(data);
    } else if (event === 'error') {
      result.error = JSON.parse(data);
    }
  });
  return result;
}

function firstChunk(url: string, body: object): { started: Promise<void>; finished: Promise<Streamed> } {
  let started!: () => void;
  const startedPromise = new Promise<void>(resolve => (started = resolve));
  const finished = stream(url, body, started);
  finished.catch(() => undefined);
  return { started: Promise.race([startedPromise, finished.then(() => undefined)]), finished };
}

/** Resident memory of a process, in bytes (Linux). */
function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
  return Number(kb) * 1024;
}

describe('host hardening', () => {
  let host: Running;
  const post = (endpoint: string, body: unknown, method = 'POST') =>
    getJson(`${host.url}${endpoint}`, { method, headers: HEADERS, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const status = () => getJson(`${host.url}/api/status`, { headers: HEADERS });

  beforeAll(async () => {
    host = await startHost(['--model', 'datarus-test-tiny', '--threads', '1', '--max-episodes', '4'], { DATARUS_HOST_TOKEN: TOKEN });
    await waitForStatus(status, s => s.state === 'ready');
  });

  afterAll(async () => {
    expect(await host.stop()).toBe(0);
  });

  describe('grammar bounds', () => {
    // 20,000 nested groups crashed llama.cpp's parser with SIGSEGV on this machine (18,000 did not).
    it.each([
      ['groups nested 20,000 deep (the crashing grammar)', `root ::= ${'('.repeat(20000)}"a"${')'.repeat(20000)}`, /nested 20000 deep \(at most 64\)/],
      ['groups nested 65 deep', `root ::= ${'('.repeat(65)}"a"${')'.repeat(65)}`, /nested 65 deep/],
      ['1,001 rules', ['root ::= r0', ...Array.from({ length: 1000 }, (_, i) => `r${i} ::= "a"`)].join('\n'), /1001 rules/],
      ['5,000 alternatives', `root ::= ${Array.from({ length: 5000 }, (_, i) => `"a${i}"`).join(' | ')}`, /4999 "|" between alternatives/],
      ['a repetition of 1,001', 'root ::= "a"{1001}', /repetition \{ \} of 1001/],
      ['a repetition of 10^30', 'root ::= "a"{0,1000000000000000000000000000000}', /over a billion/]
    ])('answers %s with 400 invalid_grammar before llama.cpp sees it', async (_name, grammar, message) => {
      const response = await post('/api/generate', { prompt: 'Q\n', grammar, maxTokens: 2, stream: false });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('invalid_grammar');
      expect(response.body.error.message).toMatch(message);
      expect((await status()).status).toBe(200);
    });

    it('still accepts grammars within the bounds, brackets inside literals not counted', async () => {
      const grammar = `root ::= ${'('.repeat(64)}"((((" [)(|]${')'.repeat(64)} # ((((((`;
      const response = await post('/api/generate', { prompt: 'Q\n', grammar, maxTokens: 8, stream: false });
      expect(response.status).toBe(200);
      expect(response.body.text).toMatch(/^\(\(\(\([)(|]$/);
    });
  });

  describe('loading a model while episodes generate', () => {
    it('refuses with 409, leaves the running generation intact, and loads once it is done', async () => {
      const long = firstChunk(host.url, { episodeId: 'load-race', prompt: 'Q\n', grammar: FOREVER, maxTokens: 400 });
      await long.started;
      const refused = await post('/api/models/load', { model: 'datarus-test-tiny' });
      const refusedAgain = await post('/api/models/load', { model: 'datarus-test-tiny' });
      const result = await long.finished;
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('episodes_generating');
      expect(refused.body.error.message).toMatch(/wait for them to finish or cancel them/);
      expect(refusedAgain.status).toBe(409);
      expect(result.error).toBeNull();
      expect(result.done).toMatchObject({ stopReason: 'length', usage: { completionTokens: 400 } });

      const loaded = await post('/api/models/load', { model: 'datarus-test-tiny' });
      expect(loaded.status).toBe(200);
      const again = await post('/api/generate', { episodeId: 'load-race', prompt: 'Q\n', grammar: 'root ::= "ok"', stream: false });
      expect(again.status).toBe(200);
      expect(again.body.text).toBe('ok');
      expect(host.output()).not.toMatch(/unhandled rejection|DisposedError/);
    });
  });

  describe('a burst of first requests', () => {
    it('creates one context, never holds more than maxEpisodes, and answers only 200 or 429', async () => {
      // A fresh model: loading replaces the generator, so no context exists yet.
      expect((await post('/api/models/load', { model: 'datarus-test-tiny' })).status).toBe(200);
      const before = (await status()).body;
      expect(before.episodes).toMatchObject({ contextsCreated: 0, active: 0 });
      const rssBefore = rssBytes(host.proc.pid!);

      let maxActive = 0;
      let polling = true;
      const poll = (async () => {
        while (polling) {
          const s = await status();
          maxActive = Math.max(maxActive, s.body.episodes.active);
        }
      })();
      const burst = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          post('/api/generate', { episodeId: `burst-${i}`, prompt: `Question ${i}\n`, grammar: FOREVER, maxTokens: 16, stream: false })
        )
      );
      polling = false;
      await poll;

      const codes = burst.map(r => r.status);
      expect(codes.filter(c => c !== 200 && c !== 429)).toEqual([]);
      expect(codes.filter(c => c === 200).length).toBeGreaterThanOrEqual(4);
      expect(burst.filter(r => r.status === 429).every(r => r.body.error.code === 'too_many_episodes')).toBe(true);
      const after = (await status()).body;
      expect(after.episodes.contextsCreated).toBe(1);
      expect(after.episodes.active).toBeLessThanOrEqual(4);
      expect(maxActive).toBeLessThanOrEqual(4);
      // One context of the tiny model is a few MB; 50 contexts took about 500 MB before the fix.
      expect(rssBytes(host.proc.pid!) - rssBefore).toBeLessThan(200 * 1024 * 1024);
    });

    it('evicts idle episodes under concurrency without "No sequences left"', async () => {
      // Four idle episodes hold every slot; eight new ones arrive at once.
      for (let i = 0; i < 4; i++) {
        expect((await post('/api/generate', { episodeId: `idle-${i}`, prompt: 'Q\n', grammar: FOREVER, maxTokens: 2, stream: false })).status).toBe(200);
      }
      const wave = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          post('/api/generate', { episodeId: `wave-${i}`, prompt: 'Q\n', grammar: FOREVER, maxTokens: 8, stream: false })
        )
      );
      expect(wave.map(r => r.status).filter(c => c !== 200 && c !== 429)).toEqual([]);
      expect(wave.filter(r => r.status === 200).length).toBeGreaterThanOrEqual(4);
      const s = (await status()).body.episodes;
      expect(s.active).toBeLessThanOrEqual(4);
      expect(s.contextsCreated).toBe(1);
      // An evicted episode comes back with a fresh sequence and the right answer.
      const back = await post('/api/generate', { episodeId: 'idle-0', prompt: 'Q\n', grammar: 'root ::= "back"', stream: false });
      expect(back.status).toBe(200);
      expect(back.body.text).toBe('back');
    });

    it('forgets the records of episodes that were never ended, past a bound', async () => {
      for (let i = 0; i < 100; i++) {
        const r = await post('/api/generate', { episodeId: `forgotten-${i}`, prompt: 'Q\n', grammar: FOREVER, maxTokens: 1, stream: false });
        expect(r.status).toBe(200);
      }
      const s = (await status()).body.episodes;
      // 64 idle records at most, plus those holding the 4 slots.
      expect(s.episodes).toBeLessThanOrEqual(68);
      expect(s.active).toBeLessThanOrEqual(4);
    });
  });

  describe('over-long prompts', () => {
    it.each([
      ['4 MB of one repeated character', 'a'.repeat(4_000_000)],
      ['400k characters of ordinary text', 'The quick brown fox jumps over the lazy dog. '.repeat(9000)],
      ['one character over the bound', 'x'.repeat(CONTEXT * 16 + 1)]
    ])('answers %s with 400 prompt_too_long, not a hang or a 500', async (_name, prompt) => {
      const response = await post('/api/generate', { prompt, maxTokens: 1, stream: false });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('prompt_too_long');
      expect(response.body.error.message).toContain(`at most ${CONTEXT * 16}`);
    });

    it('counts every message of a chat toward the bound', async () => {
      const messages = Array.from({ length: 5 }, () => ({ role: 'user', content: 'b'.repeat(CONTEXT * 4) }));
      const response = await post('/api/generate', { messages, maxTokens: 1, stream: false });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('prompt_too_long');
    });

    it('tokenizes the worst prompt within the bound and answers context_overflow, status answering meanwhile', async () => {
      const worst = post('/api/generate', { prompt: 'a'.repeat(CONTEXT * 16), maxTokens: 1, stream: false });
      const meanwhile = await status();
      const response = await worst;
      expect(meanwhile.status).toBe(200);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('context_overflow');
    });
  });

  describe('paths', () => {
    it.each([
      ['POST', '/api/episodes/%E0%A4%A/cancel'],
      ['DELETE', '/api/episodes/%E0%A4%A'],
      ['POST', '/api/episodes/%/cancel']
    ])('answers a bad percent-escape (%s %s) with 400', async (method, endpoint) => {
      const response = await post(endpoint, '', method);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('invalid_request');
      expect(response.body.error.message).toMatch(/percent-encoding/);
    });
  });
});

describe('stopping the host', () => {
  it('honours SIGTERM during a long generation: stops it, exits 0 and removes its socket', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-sigterm-'));
    const socket = path.join(dir, 'host.sock');
    const proc = spawn(process.execPath, [CLI, 'serve', '--socket', socket, '--model', 'datarus-test-tiny', '--threads', '1'], {
      cwd: ROOT,
      env: { ...process.env, DATARUS_HOST_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe']
    });
    let output = '';
    proc.stdout!.on('data', d => (output += d));
    proc.stderr!.on('data', d => (output += d));
    await waitForOutput(proc, () => output, text => /datarus host ready/.test(text));

    // Still running when SIGTERM arrives: a host that let it finish would answer stopReason "length".
    const events: string[] = [];
    let firstChunk!: () => void;
    const started = new Promise<void>(resolve => (firstChunk = resolve));
    const request = http.request(
      { socketPath: socket, path: '/api/generate', method: 'POST', headers: HEADERS },
      response => {
        response.setEncoding('utf8');
        response.on('data', (text: string) => {
          events.push(text);
          firstChunk();
        });
      }
    );
    request.on('error', () => undefined);
    request.end(JSON.stringify({ prompt: 'Q\n', grammar: FOREVER, maxTokens: CONTEXT - 16 }));
    await started;

    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(output).toMatch(/stopping \(SIGTERM\)/);
    // The generation was stopped, not run to its end.
    const done = /event: done\ndata: (.*)\n/.exec(events.join(''));
    expect(done).not.toBeNull();
    expect(JSON.parse(done![1]).stopReason).toBe('abort');
  });
});

describe('the bearer token', () => {
  const statusWith = (host: Running, token: string) => getJson(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${token}` } });

  it('is read from --token-file and never appears in the command line', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-token-')), 'token');
    writeFileSync(file, 'from-a-file\n', { mode: 0o600 });
    const host = await startHost(['--token-file', file]);
    try {
      expect((await statusWith(host, 'from-a-file')).status).toBe(200);
      expect((await statusWith(host, 'wrong')).status).toBe(401);
      expect(readFileSync(`/proc/${host.proc.pid}/cmdline`, 'utf8')).not.toContain('from-a-file');
      expect(host.output()).not.toMatch(/warning: --token/);
    } finally {
      expect(await host.stop()).toBe(0);
    }
  });

  it('is read from $DATARUS_HOST_TOKEN', async () => {
    const host = await startHost([], { DATARUS_HOST_TOKEN: 'from-the-env' });
    try {
      expect((await statusWith(host, 'from-the-env')).status).toBe(200);
      expect(host.output()).not.toMatch(/warning: --token|token:/);
    } finally {
      expect(await host.stop()).toBe(0);
    }
  });

  it('still works from --token, with a warning that other users can see it', async () => {
    const host = await startHost(['--token', 'on-the-command-line']);
    try {
      expect((await statusWith(host, 'on-the-command-line')).status).toBe(200);
      expect(host.output()).toMatch(/warning: --token is visible to other users/);
    } finally {
      expect(await host.stop()).toBe(0);
    }
  });

  it('refuses an empty token file with a clear message', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-token-')), 'empty');
    writeFileSync(file, '\n');
    await expect(startHost(['--token-file', file])).rejects.toThrow(/exited with code 2:[\s\S]*token file .* is empty/);
  });
});
