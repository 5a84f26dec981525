/**
 * Episodes generating at once on the real host (fixture GGUF, greedy): they
 * take their decode steps together, sharing batches, and each gets the same
 * tokens as when it runs alone.
 */
import { readEvents } from '../../src/agent/sse';
import { getJson, Running, startHost, waitForStatus } from './processes';

jest.setTimeout(300000);

const TOKEN = 'parallel-token';
const HEADERS = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
const PROMPTS = ['Q: the mean of x?\nA:', 'Q: rows with y > 3?\nA:', 'Q: describe df.\nA:'];

async function generate(host: Running, episodeId: string, prompt: string): Promise<{ text: string; tokens: number }> {
  const response = await fetch(`${host.url}/api/generate`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ episodeId, prompt, maxTokens: 160, temperature: 0 })
  });
  expect(response.status).toBe(200);
  let done: any = null;
  await readEvents(response, event => {
    if (event.event === 'done') {
      done = JSON.parse(event.data);
    }
  });
  return { text: done.text, tokens: done.usage.completionTokens };
}

describe('episodes generating at once', () => {
  let host: Running;
  const status = () => getJson(`${host.url}/api/status`, { headers: HEADERS });

  beforeAll(async () => {
    host = await startHost(['--model', 'datarus-test-tiny', '--token', TOKEN, '--threads', '1', '--max-episodes', '4', '--no-prompt-cache']);
    await waitForStatus(status, s => s.state === 'ready');
  });

  afterAll(async () => {
    await host.stop();
  });

  it('give each episode the tokens it gets alone, in decode steps taken together', async () => {
    const alone = [];
    for (const [i, prompt] of PROMPTS.entries()) {
      alone.push(await generate(host, `alone-${i}`, prompt));
    }
    const before = (await status()).body.episodes.decodeSteps;
    expect(before.mode).toBe('together');
    const atOnce = await Promise.all(PROMPTS.map((prompt, i) => generate(host, `together-${i}`, prompt)));
    const after = (await status()).body.episodes.decodeSteps;

    expect(alone.every(run => run.tokens > 100)).toBe(true);
    expect(atOnce).toEqual(alone);
    // Steps of the run at once: more than one episode each, on average.
    const steps = after.steps - before.steps;
    const sequences = after.sequences - before.sequences;
    expect(steps).toBeGreaterThan(0);
    expect(sequences / steps).toBeGreaterThan(1.5);
  });
});
