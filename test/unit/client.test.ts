import { ServerConnection } from '@jupyterlab/services';

import { DatarusClient, HostError } from '../../src/lab/client';

interface Sent {
  url: string;
  method: string;
  body: unknown;
}

/** A client whose requests go to `answer` instead of a Jupyter server. */
function clientAnswering(answer: (sent: Sent) => Response | Promise<Response>): { client: DatarusClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const text = await request.text();
    // Without the query JupyterLab adds to defeat caches.
    const one = { url: request.url.split('?')[0], method: request.method, body: text ? JSON.parse(text) : undefined };
    sent.push(one);
    return answer(one);
  };
  const settings = ServerConnection.makeSettings({ baseUrl: 'http://lab.test/base/', fetch, token: 't' });
  return { client: new DatarusClient(settings), sent };
}

const json = (data: unknown, status = 200) => new Response(JSON.stringify(data), { status, headers: { 'Content-Type': 'application/json' } });

describe('DatarusClient', () => {
  it('reaches each endpoint under /datarus/api with the method and body of the contract, and unwraps the answers', async () => {
    const answers: Record<string, unknown> = {
      'GET /api/status': { state: 'ready' },
      'GET /api/models': { models: [{ name: 'm', downloaded: true, loaded: false }] },
      'POST /api/models/load': { model: 'm', path: '/m.gguf', contextSize: 4096 },
      'POST /api/models/pull': { model: 'm', state: 'downloading' },
      'GET /api/models/pulls': { pulls: [{ model: 'm', state: 'done' }] },
      'POST /api/models/pull/cancel': { cancelled: true },
      'POST /api/log/episodes': { logged: true, file: '/log.jsonl' },
      'POST /api/log/feedback': { logged: true },
      'POST /api/log/edits': { logged: true },
      'POST /api/log/export': { format: 'sft', path: '/exports/x.jsonl', rows: 2, episodes: 1 }
    };
    const { client, sent } = clientAnswering(({ url, method }) => json(answers[`${method} ${new URL(url).pathname.replace('/base/datarus', '')}`]));

    expect((await client.status()).state).toBe('ready');
    expect((await client.models()).map(m => m.name)).toEqual(['m']);
    expect((await client.loadModel('m')).contextSize).toBe(4096);
    expect((await client.pull('m')).state).toBe('downloading');
    expect((await client.pulls()).map(p => p.state)).toEqual(['done']);
    expect(await client.cancelPull('m')).toBe(true);
    expect((await client.logEpisode({ id: 'ep-1' } as never)).file).toBe('/log.jsonl');
    await client.logFeedback({ episodeId: 'ep-1', step: null, rating: 'up' });
    await client.logEdit({ episodeId: 'ep-1', step: 0, original: 'a', edited: 'b' });
    expect((await client.exportLog({ format: 'sft', path: 'x.jsonl' })).rows).toBe(2);

    expect(sent.map(s => `${s.method} ${s.url}`)).toEqual([
      'GET http://lab.test/base/datarus/api/status',
      'GET http://lab.test/base/datarus/api/models',
      'POST http://lab.test/base/datarus/api/models/load',
      'POST http://lab.test/base/datarus/api/models/pull',
      'GET http://lab.test/base/datarus/api/models/pulls',
      'POST http://lab.test/base/datarus/api/models/pull/cancel',
      'POST http://lab.test/base/datarus/api/log/episodes',
      'POST http://lab.test/base/datarus/api/log/feedback',
      'POST http://lab.test/base/datarus/api/log/edits',
      'POST http://lab.test/base/datarus/api/log/export'
    ]);
    expect(sent.map(s => s.body)).toEqual([
      undefined,
      undefined,
      { model: 'm' },
      { model: 'm' },
      undefined,
      { model: 'm' },
      { episode: { id: 'ep-1' } },
      { episodeId: 'ep-1', step: null, rating: 'up' },
      { episodeId: 'ep-1', step: 0, original: 'a', edited: 'b' },
      { format: 'sft', path: 'x.jsonl' }
    ]);
  });

  it("turns an error answer into a HostError with the host's status, code and message", async () => {
    const { client } = clientAnswering(() => json({ error: { code: 'unknown_model', message: 'no manifest named "x"' } }, 404));
    const error = await client.loadModel('x').catch(err => err);
    expect(error).toBeInstanceOf(HostError);
    expect(error).toMatchObject({ status: 404, code: 'unknown_model', message: 'no manifest named "x"' });
  });

  it('keeps the text of an error that is not JSON, and says when the server cannot be reached', async () => {
    const { client } = clientAnswering(() => new Response('upstream went away', { status: 502 }));
    await expect(client.status()).rejects.toMatchObject({ status: 502, code: 'http_error', message: 'upstream went away' });

    const unreachable = clientAnswering(() => {
      throw new TypeError('Failed to fetch');
    }).client;
    await expect(unreachable.models()).rejects.toMatchObject({ status: 0, code: 'network', message: expect.stringMatching(/could not be reached: .*Failed to fetch/) });
  });

  it('reads the host process state from /datarus/host-state, and null when the server cannot say', async () => {
    const { client, sent } = clientAnswering(() => json({ running: true, starts: 1, restarts: 0, lastExitCode: null, lastError: null }));
    expect(await client.processState()).toMatchObject({ running: true, starts: 1 });
    expect(sent[0].url).toBe('http://lab.test/base/datarus/host-state');
    expect(await clientAnswering(() => new Response('', { status: 500 })).client.processState()).toBeNull();
  });

  it('hands the agent a raw request under /datarus/api for streamed generation', async () => {
    const { client, sent } = clientAnswering(() => new Response('event: done\ndata: {}\n\n', { headers: { 'Content-Type': 'text/event-stream' } }));
    const response = await client.request('generate', { method: 'POST', body: JSON.stringify({ prompt: 'x' }) });
    expect(await response.text()).toContain('event: done');
    expect(sent[0]).toEqual({ url: 'http://lab.test/base/datarus/api/generate', method: 'POST', body: { prompt: 'x' } });
  });
});
