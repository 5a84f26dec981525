/**
 * The OpenAI-compatible endpoints, exercised with the official `openai` npm
 * client: against the standalone host (bearer token = API key) and through
 * Jupyter (base URL <server>/datarus/v1, API key = a Jupyter token).
 */
import OpenAI from 'openai';

import { getJson, Running, RunningJupyter, startHost, startJupyter, waitForStatus } from './processes';

jest.setTimeout(300000);

const TOKEN = 'openai-token';

describe('OpenAI-compatible API on the standalone host', () => {
  let host: Running;
  let client: OpenAI;

  beforeAll(async () => {
    host = await startHost(['--model', 'datarus-test-tiny', '--token', TOKEN, '--threads', '1']);
    await waitForStatus(() => getJson(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } }), s => s.state === 'ready');
    client = new OpenAI({ baseURL: `${host.url}/v1`, apiKey: TOKEN, maxRetries: 0 });
  });

  afterAll(async () => {
    await host.stop();
  });

  it('lists the loaded model', async () => {
    const models = await client.models.list();
    expect(models.data.map(m => m.id)).toEqual(['datarus-test-tiny']);
  });

  it('answers a chat completion', async () => {
    const completion = await client.chat.completions.create({
      model: 'datarus-test-tiny',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Say hi.' }
      ],
      max_tokens: 6,
      temperature: 0
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0].message.role).toBe('assistant');
    expect(typeof completion.choices[0].message.content).toBe('string');
    expect(completion.choices[0].finish_reason).toMatch(/^(stop|length)$/);
    expect(completion.usage!.completion_tokens).toBeLessThanOrEqual(6);
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(10);
  });

  it('streams a chat completion whose deltas add up to the whole', async () => {
    const stream = await client.chat.completions.create({
      model: 'datarus-test-tiny',
      messages: [{ role: 'user', content: 'Count.' }],
      max_tokens: 12,
      temperature: 0,
      stream: true
    });
    const deltas: string[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      deltas.push(chunk.choices[0].delta.content ?? '');
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    expect(deltas.length).toBeGreaterThan(2);
    expect(finish).toBe('length');
    const whole = await client.chat.completions.create({
      model: 'datarus-test-tiny',
      messages: [{ role: 'user', content: 'Count.' }],
      max_tokens: 12,
      temperature: 0
    });
    expect(deltas.join('')).toBe(whole.choices[0].message.content);
  });

  it('answers text completions, streaming and not', async () => {
    const plain = await client.completions.create({ model: 'datarus-test-tiny', prompt: 'Once upon', max_tokens: 5, temperature: 0 });
    expect(plain.object).toBe('text_completion');
    expect(plain.choices[0].finish_reason).toMatch(/^(stop|length)$/);
    const stream = await client.completions.create({ model: 'datarus-test-tiny', prompt: 'Once upon', max_tokens: 5, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0].text;
    }
    expect(text).toBe(plain.choices[0].text);
  });

  it('reports errors the way OpenAI clients expect', async () => {
    await expect(
      client.chat.completions.create({ model: 'datarus-test-tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: -1 })
    ).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/maxTokens must be >= 1/) });
    await expect(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      status: 404,
      message: expect.stringMatching(/not loaded; this host serves "datarus-test-tiny"/)
    });
    const wrongKey = new OpenAI({ baseURL: `${host.url}/v1`, apiKey: 'nope', maxRetries: 0 });
    await expect(wrongKey.models.list()).rejects.toMatchObject({ status: 401 });
  });
});

describe('OpenAI-compatible API and generation through Jupyter', () => {
  let jupyter: RunningJupyter;

  beforeAll(async () => {
    jupyter = await startJupyter();
    await waitForStatus(
      () => getJson(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } }),
      s => s.state === 'ready'
    );
  });

  afterAll(async () => {
    await jupyter.stop();
  });

  it('serves the official client with a Jupyter token as the API key', async () => {
    const client = new OpenAI({ baseURL: `${jupyter.url}/datarus/v1`, apiKey: jupyter.token, maxRetries: 0 });
    expect((await client.models.list()).data[0].id).toBe('datarus-test-tiny');
    const stream = await client.chat.completions.create({ model: 'datarus-test-tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, stream: true });
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += chunk.choices[0]?.delta.content ? 1 : 0;
    }
    expect(chunks).toBeGreaterThan(1);
    const anonymous = new OpenAI({ baseURL: `${jupyter.url}/datarus/v1`, apiKey: 'not-a-jupyter-token', maxRetries: 0 });
    await expect(anonymous.models.list()).rejects.toMatchObject({ status: 403 });
  });

  it('streams generation chunk by chunk through the proxy, before the end', async () => {
    const tokensBefore = (await getJson(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } })).body.episodes.outputTokens;
    const response = await fetch(`${jupyter.url}/datarus/api/generate`, {
      method: 'POST',
      headers: { Authorization: `token ${jupyter.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ episodeId: 'proxy-gone', prompt: 'Q\n', grammar: 'root ::= "s" root', maxTokens: 3000 })
    });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('event: chunk');
    // The first chunk arrived while the host was still generating: the proxy does not buffer.
    const status = await getJson(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } });
    expect(status.body.episodes.active).toBeGreaterThanOrEqual(1);
    // The browser going away closes the upstream request, and the host stops generating.
    await reader.cancel();
    const datarus = (endpoint: string, init: RequestInit = {}) =>
      getJson(`${jupyter.url}/datarus/api/${endpoint}`, { ...init, headers: { Authorization: `token ${jupyter.token}`, ...(init.headers ?? {}) } });
    // Wait for the host itself to say the episode stopped: a request on it is no longer refused as busy.
    let probe = await datarus('generate', { method: 'POST', body: JSON.stringify({ episodeId: 'proxy-gone', prompt: 'Q\n', grammar: 'root ::= "k"', stream: false }) });
    while (probe.status === 409) {
      probe = await datarus('generate', { method: 'POST', body: JSON.stringify({ episodeId: 'proxy-gone', prompt: 'Q\n', grammar: 'root ::= "k"', stream: false }) });
    }
    expect(probe.status).toBe(200);
    // It stopped early: far fewer than the 3000 tokens asked for were generated (the probe's own not counted).
    const generated = (await datarus('status')).body.episodes.outputTokens;
    expect(generated - tokensBefore - probe.body.usage.completionTokens).toBeLessThan(3000);
  });
});

describe('the agent with a remote OpenAI-compatible backend', () => {
  it('streams a turn from an OpenAI-compatible server (the host’s own /v1 as the remote)', async () => {
    const { OpenAIModel, estimateTokens } = await import('../../src/agent/openaiModel');
    const { isContextRefusal } = await import('../../src/agent/budget');
    const host = await startHost(['--model', 'datarus-test-tiny', '--token', TOKEN, '--threads', '1']);
    try {
      await waitForStatus(() => getJson(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } }), s => s.state === 'ready');
      const model = new OpenAIModel({ baseUrl: `${host.url}/v1/`, apiKey: TOKEN, model: 'datarus-test-tiny' });
      const chunks: string[] = [];
      const turn = await model.complete(
        { episodeId: 'remote', messages: [{ role: 'user', content: 'Analyze.' }], stop: ['</step>'], maxTokens: 10, temperature: 0 },
        text => chunks.push(text)
      );
      expect(turn.stopReason).toBe('length');
      expect(chunks.join('')).toBe(turn.text);
      expect(chunks.length).toBeGreaterThan(1);
      // The budget's figures: the context the host states in /v1/models, and its 400 for a prompt over it.
      const status = await getJson(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      const messages = [{ role: 'user' as const, content: 'Analyze.' }];
      expect(await model.countTokens('remote', messages)).toEqual({ tokens: estimateTokens(messages), contextSize: status.body.contextSize });
      const huge = [{ role: 'user' as const, content: 'word '.repeat(status.body.contextSize) }];
      const refused = await model.complete({ episodeId: 'remote-huge', messages: huge, stop: [], maxTokens: 4 }, () => undefined).catch(err => err);
      expect(refused).toBeInstanceOf(Error);
      expect(isContextRefusal(refused)).toBe(true);
      const wrong = new OpenAIModel({ baseUrl: `${host.url}/v1`, apiKey: 'wrong', model: 'datarus-test-tiny' });
      await expect(wrong.complete({ episodeId: 'x', messages: [{ role: 'user', content: 'a' }], stop: [] }, () => undefined)).rejects.toThrow(/answered 401: missing or wrong bearer token/);
    } finally {
      await host.stop();
    }
  });
});
