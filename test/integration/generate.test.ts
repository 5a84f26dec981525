/**
 * Generation on the real host with the fixture GGUF: streaming, stop strings,
 * grammar, abort, KV reuse across steps, isolation and eviction of episodes,
 * and the bad inputs of the generation API. The fixture's weights are random,
 * so every test that checks text forces it with a grammar.
 */
import { formatObservation, formatStep, parseDatarus } from '../../src/protocol';
import { getJson, Running, startHost, waitForStatus } from './processes';

jest.setTimeout(300000);

const TOKEN = 'generation-token';
const HEADERS = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };

/** A GBNF grammar whose only sentence is `text`. */
export function exactly(text: string): string {
  return `root ::= ${JSON.stringify(text)}`;
}

const STEP = formatStep({ thought: 'Sum x.', code: 'print(1 + 2 + 3)' });

interface Streamed {
  chunks: string[];
  done: any;
  error: any;
}

/** Posts to /api/generate and reads the SSE stream to its end. */
async function stream(url: string, body: object, onChunk?: (text: string, controller: AbortController) => void): Promise<Streamed> {
  const controller = new AbortController();
  const response = await fetch(`${url}/api/generate`, { method: 'POST', headers: HEADERS, body: JSON.stringify(body), signal: controller.signal });
  if (!response.ok) {
    throw Object.assign(new Error(`HTTP ${response.status}`), { status: response.status, body: await response.json() });
  }
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const result: Streamed = { chunks: [], done: null, error: null };
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const part of response.body as any as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(part, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const raw = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(raw)?.[1];
        const data = JSON.parse(/^data: (.*)$/m.exec(raw)![1]);
        if (event === 'chunk') {
          result.chunks.push(data.text);
          onChunk?.(data.text, controller);
        } else if (event === 'done') {
          result.done = data;
        } else if (event === 'error') {
          result.error = data;
        }
      }
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') {
      throw err;
    }
  }
  return result;
}

describe('generation on the real host', () => {
  let host: Running;
  const post = (path: string, body: unknown) =>
    getJson(`${host.url}${path}`, { method: 'POST', headers: HEADERS, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const status = () => getJson(`${host.url}/api/status`, { headers: HEADERS });

  beforeAll(async () => {
    host = await startHost(['--model', 'datarus-test-tiny', '--token', TOKEN, '--threads', '1', '--max-episodes', '2']);
    await waitForStatus(status, s => s.state === 'ready');
  });

  afterAll(async () => {
    await host.stop();
  });

  it('streams chunks that add up to the result, and stops at a stop string', async () => {
    const out = await stream(host.url, { prompt: 'Q: sum x\n', grammar: exactly(`${STEP}\nafter`), stop: ['</step>'], maxTokens: 400 });
    expect(out.chunks.length).toBeGreaterThan(5);
    expect(out.chunks.join('')).toBe(out.done.text);
    expect(out.done.text).toBe(STEP.replace('</step>', ''));
    expect(out.done).toMatchObject({ stopReason: 'stop', stopString: '</step>' });
    expect(parseDatarus(out.done.text + out.done.stopString).steps[0].code).toBe('print(1 + 2 + 3)');
  });

  it('forces a well-formed Datarus step with the built-in protocol grammar', async () => {
    const out = await stream(host.url, { prompt: 'Q: anything\n', grammar: 'datarus', maxTokens: 300, stop: ['</step>', '</stop_analysis>'], seed: 7 });
    if (out.done.stopReason === 'stop') {
      const parsed = parseDatarus(out.done.text + out.done.stopString);
      expect(parsed.violations).toEqual([]);
    } else {
      // A random model may ramble inside the free text until maxTokens: still a prefix of the protocol.
      expect(out.done.stopReason).toBe('length');
      expect(out.done.text).toMatch(/^<(step|stop_analysis)>\n<thought>/);
    }
  });

  it('honours maxTokens', async () => {
    const out = await stream(host.url, { prompt: 'Q\n', grammar: 'root ::= "a"+', maxTokens: 7 });
    expect(out.done).toMatchObject({ stopReason: 'length', text: 'aaaaaaa' });
    expect(out.done.usage.completionTokens).toBe(7);
  });

  it('answers with one JSON object when stream is false', async () => {
    const response = await post('/api/generate', { prompt: 'Q\n', grammar: exactly('ok'), stream: false });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ text: 'ok', stopReason: 'eos' });
  });

  it('evaluates only the new tokens of the next step of an episode', async () => {
    const system = { role: 'system', content: 'You are Datarus.' };
    const question = { role: 'user', content: 'What is the sum of x?' };
    const first = await stream(host.url, { episodeId: 'kv', messages: [system, question], grammar: exactly(STEP), stop: ['</step>'] });
    expect(first.done.usage.evaluatedPromptTokens).toBe(first.done.usage.promptTokens);
    const assistant = { role: 'assistant', content: first.done.text + first.done.stopString };
    const observation = { role: 'user', content: `${formatObservation('6')}\nContinue with the analysis.` };
    const second = await stream(host.url, {
      episodeId: 'kv',
      messages: [system, question, assistant, observation],
      grammar: exactly('<stop_analysis>'),
      stop: ['</stop_analysis>']
    });
    const u = second.done.usage;
    const newTokens = u.promptTokens - first.done.usage.promptTokens - first.done.usage.completionTokens;
    expect(u.evaluatedPromptTokens).toBeLessThanOrEqual(newTokens + 2);
    expect(u.evaluatedPromptTokens).toBeLessThan(u.promptTokens / 2);
    // The same conversation in a fresh episode evaluates all but the prefix an earlier prompt shares with it (a warm start).
    const fresh = await stream(host.url, { episodeId: 'kv-fresh', messages: [system, question, assistant, observation], grammar: exactly('x') });
    const warm = fresh.done.warmStart;
    expect(fresh.done.usage.evaluatedPromptTokens + warm.loaded + warm.reused).toBe(u.promptTokens);
    expect(fresh.done.usage.evaluatedPromptTokens).toBeGreaterThan(u.promptTokens / 2);
    await getJson(`${host.url}/api/episodes/kv-fresh`, { method: 'DELETE', headers: HEADERS });
  });

  it('keeps two concurrent episodes apart', async () => {
    const [a, b] = await Promise.all([
      stream(host.url, { episodeId: 'iso-a', prompt: 'AAAA question\n', grammar: exactly('a'.repeat(150)) }),
      stream(host.url, { episodeId: 'iso-b', prompt: 'BBBB question\n', grammar: exactly('b'.repeat(150)) })
    ]);
    expect(a.done.text).toBe('a'.repeat(150));
    expect(b.done.text).toBe('b'.repeat(150));
    // The next step of each reuses its own cache, never the other's.
    const a2 = await stream(host.url, { episodeId: 'iso-a', prompt: `AAAA question\n${'a'.repeat(150)}\nmore`, grammar: exactly('.') });
    expect(a2.done.usage.evaluatedPromptTokens).toBeLessThanOrEqual(6);
    const b2 = await stream(host.url, { episodeId: 'iso-b', prompt: `AAAA question\n${'a'.repeat(150)}\nmore`, grammar: exactly('.') });
    expect(b2.done.usage.evaluatedPromptTokens).toBeGreaterThanOrEqual(b2.done.usage.promptTokens - 1);
  });

  it('evicts the least recently used idle episode and rebuilds it on its next request', async () => {
    // The host has 2 slots; iso-a and iso-b hold them. A third episode evicts iso-a (used longest ago).
    await stream(host.url, { episodeId: 'third', prompt: 'C\n', grammar: exactly('c') });
    const again = await stream(host.url, { episodeId: 'iso-a', prompt: `AAAA question\n${'a'.repeat(150)}\nmore`, grammar: exactly('.') });
    expect(again.done.text).toBe('.');
    // It gets iso-b's sequence, which held this very prompt: kept, not evaluated again.
    expect(again.done.warmStart.reused).toBe(again.done.usage.promptTokens);
    expect(again.done.usage.evaluatedPromptTokens).toBe(0);
    for (const id of ['iso-a', 'iso-b', 'third']) {
      await getJson(`${host.url}/api/episodes/${id}`, { method: 'DELETE', headers: HEADERS });
    }
  });

  it('stops within a token or two of an explicit cancel', async () => {
    let cancel: Promise<any> | null = null;
    const out = await stream(host.url, { episodeId: 'cancel-me', prompt: 'Q\n', grammar: "root ::= \"z\" root", maxTokens: 3500 }, () => {
      cancel ??= post('/api/episodes/cancel-me/cancel', {});
    });
    const answer = await cancel!;
    expect(answer.body).toMatchObject({ cancelled: true });
    expect(out.done.stopReason).toBe('abort');
    expect(out.done.usage.completionTokens).toBeLessThan(3500);
    expect(out.done.usage.completionTokens - answer.body.tokensAtCancel).toBeLessThanOrEqual(2);
  });

  it('stops generating when the client goes away', async () => {
    const before = (await status()).body.episodes.outputTokens;
    await stream(host.url, { episodeId: 'gone', prompt: 'Q\n', grammar: "root ::= \"y\" root", maxTokens: 3500 }, (_text, controller) => controller.abort());
    // Wait for the host to say the episode stopped (a request on it is no longer refused as busy),
    // however long a loaded machine takes: no timing window.
    let next = await post('/api/generate', { episodeId: 'gone', prompt: 'Q\n', grammar: exactly('k'), stream: false });
    while (next.status === 409) {
      next = await post('/api/generate', { episodeId: 'gone', prompt: 'Q\n', grammar: exactly('k'), stream: false });
    }
    expect(next.status).toBe(200);
    // It stopped long before its budget: far fewer than the 3500 tokens asked for, the probe's own included.
    const generated = (await status()).body.episodes.outputTokens - before - next.body.usage.completionTokens;
    expect(generated).toBeLessThan(3500);
  });

  it('refuses a second request on an episode that is generating', async () => {
    let second: Promise<any> | null = null;
    await stream(host.url, { episodeId: 'twice', prompt: 'Q\n', grammar: "root ::= \"w\" root", maxTokens: 3500 }, (_t, controller) => {
      if (!second) {
        second = post('/api/generate', { episodeId: 'twice', prompt: 'Q\n', stream: false }).then(r => {
          controller.abort();
          return r;
        });
      }
    });
    const refused = await second!;
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('episode_busy');
  });

  it.each([
    ['invalid JSON', '{"prompt": ', 400, 'invalid_json'],
    ['neither prompt nor messages', { maxTokens: 3 }, 400, 'invalid_request'],
    ['both prompt and messages', { prompt: 'a', messages: [{ role: 'user', content: 'b' }] }, 400, 'invalid_request'],
    ['zero maxTokens', { prompt: 'a', maxTokens: 0 }, 400, 'invalid_request'],
    ['negative maxTokens', { prompt: 'a', maxTokens: -5 }, 400, 'invalid_request'],
    ['huge maxTokens', { prompt: 'a', maxTokens: 1e12 }, 400, 'invalid_request'],
    ['fractional maxTokens', { prompt: 'a', maxTokens: 2.5 }, 400, 'invalid_request'],
    ['a temperature out of range', { prompt: 'a', temperature: 9 }, 400, 'invalid_request'],
    ['an unknown role', { messages: [{ role: 'tool', content: 'x' }] }, 400, 'invalid_request'],
    ['an unknown field', { prompt: 'a', tempreature: 1 }, 400, 'invalid_request'],
    ['an invalid grammar', { prompt: 'a', grammar: 'root ::= (' }, 400, 'invalid_grammar'],
    ['a prompt longer than the context', { prompt: 'x'.repeat(10000) }, 400, 'context_overflow'],
    ['a bad episode id', { prompt: 'a', episodeId: '../../etc' }, 400, 'invalid_request']
  ])('answers %s with a clear JSON error and keeps serving', async (_name, body, code, kind) => {
    const response = await post('/api/generate', body);
    expect(response.status).toBe(code);
    expect(response.body.error.code).toBe(kind);
    expect(response.body.error.message.length).toBeGreaterThan(10);
    const ok = await post('/api/generate', { prompt: 'Q\n', grammar: exactly('fine'), stream: false });
    expect(ok.body.text).toBe('fine');
  });

  it('refuses a new episode when every slot is generating', async () => {
    const gens: Promise<Streamed>[] = [];
    const controllers: AbortController[] = [];
    let started = 0;
    for (const id of ['busy-1', 'busy-2']) {
      gens.push(
        stream(host.url, { episodeId: id, prompt: 'Q\n', grammar: "root ::= \"v\" root", maxTokens: 3500 }, (_t, c) => {
          if (!controllers.includes(c)) {
            controllers.push(c);
            started++;
          }
        })
      );
    }
    const deadline = Date.now() + 30000;
    while (started < 2 && Date.now() < deadline) {
      await new Promise(r => setTimeout(r, 5));
    }
    expect(started).toBe(2);
    const refused = await post('/api/generate', { episodeId: 'busy-3', prompt: 'Q\n', stream: false });
    controllers.forEach(c => c.abort());
    await Promise.all(gens);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('too_many_episodes');
  });
});

describe('generation without a model', () => {
  it('answers 503 with what to do', async () => {
    const host = await startHost(['--token', TOKEN]);
    try {
      await waitForStatus(() => getJson(`${host.url}/api/status`, { headers: HEADERS }), s => s.state === 'idle');
      const response = await getJson(`${host.url}/api/generate`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ prompt: 'a' }) });
      expect(response.status).toBe(503);
      expect(response.body.error).toMatchObject({ code: 'no_model' });
      expect(response.body.error.message).toMatch(/load one first/);
    } finally {
      await host.stop();
    }
  });
});
