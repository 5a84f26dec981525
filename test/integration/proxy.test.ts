/**
 * The Jupyter proxy when the host dies in the middle of a streamed answer: the
 * client must see an error, never a cut-off answer that looks complete.
 */
import OpenAI from 'openai';

import { getJson, RunningJupyter, startJupyter, waitForStatus } from './processes';

// The host measures its threads when the model loads: slow on a busy machine.
jest.setTimeout(400000);

describe('a host killed mid-stream, under Jupyter', () => {
  let jupyter: RunningJupyter;
  const auth = () => ({ Authorization: `token ${jupyter.token}` });
  /** The pid of the host now serving, from its own status (never a process-table search). */
  const hostPid = async () =>
    (await waitForStatus(() => getJson(`${jupyter.url}/datarus/api/status`, { headers: auth() }), s => s.state === 'ready', 180000)).pid as number;

  beforeAll(async () => {
    jupyter = await startJupyter();
  });

  afterAll(async () => {
    await jupyter.stop();
  });

  it('ends a Datarus stream with an error event', async () => {
    const pid = await hostPid();
    const response = await fetch(`${jupyter.url}/datarus/api/generate`, {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'Q\n', grammar: 'root ::= "s" root', maxTokens: 4000 })
    });
    expect(response.status).toBe(200);
    const decoder = new TextDecoder();
    let text = '';
    let killed = false;
    for await (const part of response.body as any as AsyncIterable<Uint8Array>) {
      text += decoder.decode(part, { stream: true });
      if (!killed && text.includes('event: chunk')) {
        killed = true;
        process.kill(pid, 'SIGKILL');
      }
    }
    expect(killed).toBe(true);
    expect(text).not.toMatch(/event: done/);
    // Only whole events were forwarded, the last one saying what happened.
    const events = text.split('\n\n').filter(Boolean);
    expect(events.every(e => /^event: (chunk|error)\ndata: \{.*\}$/.test(e))).toBe(true);
    const last = events[events.length - 1];
    expect(last).toMatch(/^event: error\n/);
    expect(JSON.parse(last.split('data: ')[1])).toMatchObject({ code: 'host_died', message: expect.stringMatching(/incomplete/) });
  });

  it('makes the official OpenAI client raise instead of returning cut-off text as complete', async () => {
    const client = new OpenAI({ baseURL: `${jupyter.url}/datarus/v1`, apiKey: jupyter.token, maxRetries: 0 });
    const pid = await hostPid();
    const stream = await client.chat.completions.create({
      model: 'datarus-test-tiny',
      messages: [{ role: 'user', content: 'Write a long answer.' }],
      max_tokens: 3000,
      stream: true
    });
    let killed = false;
    let finishReason: string | null = null;
    const consume = async () => {
      for await (const chunk of stream) {
        finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
        if (!killed) {
          killed = true;
          process.kill(pid, 'SIGKILL');
        }
      }
    };
    const outcome = await consume().then(
      () => null,
      (err: unknown) => err
    );
    expect(killed).toBe(true);
    // Had the fixture finished its answer before the kill landed, the stream would say so with a finish reason.
    expect(finishReason).toBeNull();
    expect(outcome).toBeInstanceOf(OpenAI.APIError);
    expect(outcome).toMatchObject({ code: 'host_died', type: 'server_error' });
  });
});
