/**
 * The `datarus` grammar decoded in segments (src/host/protocolDecoder.ts) on
 * the real host with the fixture GGUF: whatever the seed and temperature, a
 * turn is a sentence of the protocol grammar (or, cut off by its token limit,
 * a prefix of one), its streamed chunks add up to its text, and the next step
 * of the episode reuses the KV cache for it. Sentences are checked by an
 * automaton that reads the GBNF text itself (test/helpers/protocolGrammar.ts)
 * and by the protocol parser.
 */
import { readEvents } from '../../src/agent/sse';
import { formatObservation, parseDatarus } from '../../src/protocol';
import { isProtocolPrefix, isProtocolSentence } from '../helpers/protocolGrammar';
import { getJson, Running, startHost, waitForStatus } from './processes';

jest.setTimeout(300000);

const TOKEN = 'protocol-decoder-token';
const HEADERS = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };

interface Streamed {
  chunks: string[];
  done: any;
}

async function stream(url: string, body: object): Promise<Streamed> {
  const response = await fetch(`${url}/api/generate`, { method: 'POST', headers: HEADERS, body: JSON.stringify(body) });
  expect(response.status).toBe(200);
  const result: Streamed = { chunks: [], done: null };
  await readEvents(response, ({ event, data }) => {
    if (event === 'chunk') {
      result.chunks.push(JSON.parse(data).text);
    } else if (event === 'done') {
      result.done = JSON.parse(data);
    } else if (event === 'error') {
      throw new Error(`generation failed: ${data}`);
    }
  });
  return result;
}

describe('the datarus grammar decoded in segments', () => {
  let host: Running;
  const status = () => getJson(`${host.url}/api/status`, { headers: HEADERS });

  beforeAll(async () => {
    host = await startHost(['--model', 'datarus-test-tiny', '--token', TOKEN, '--threads', '1', '--max-episodes', '2']);
    await waitForStatus(status, s => s.state === 'ready', 240000);
  });

  afterAll(async () => {
    await host.stop();
  });

  /** How the turns of the two property tests ended: the checks of whole sentences must have run. */
  const endings: string[] = [];
  const cases = [0, 0.7, 1.5].flatMap(temperature => [1, 2, 3, 4].map(seed => ({ temperature, seed })));

  it.each(cases)('gives a sentence of the grammar (temperature $temperature, seed $seed)', async ({ temperature, seed }) => {
    const out = await stream(host.url, { prompt: `Q: mean of x? (${seed})\n`, grammar: 'datarus', maxTokens: 2000, temperature, seed });
    expect(out.chunks.join('')).toBe(out.done.text);
    endings.push(out.done.stopReason);
    if (out.done.stopReason === 'eos') {
      expect(isProtocolSentence(out.done.text)).toBe(true);
      expect(parseDatarus(out.done.text).violations).toEqual([]);
    } else {
      // The fixture's random weights may ramble in a free part until the limit.
      expect(out.done.stopReason).toBe('length');
      expect(isProtocolPrefix(out.done.text)).toBe(true);
    }
  });

  it.each(cases)('ends at the request stop strings like the grammar would (temperature $temperature, seed $seed)', async ({ temperature, seed }) => {
    const out = await stream(host.url, {
      prompt: `Q: sum of y? (${seed})\n`,
      grammar: 'datarus',
      maxTokens: 2000,
      temperature,
      seed,
      stop: ['</step>', '</stop_analysis>']
    });
    expect(out.chunks.join('')).toBe(out.done.text);
    endings.push(out.done.stopReason);
    if (out.done.stopReason === 'stop') {
      const whole = out.done.text + out.done.stopString;
      expect(isProtocolSentence(whole)).toBe(true);
      expect(parseDatarus(whole).violations).toEqual([]);
      expect(out.done.text).not.toContain(out.done.stopString);
    } else {
      expect(out.done.stopReason).toBe('length');
      expect(isProtocolPrefix(out.done.text)).toBe(true);
    }
  });

  it('ended some of those turns as whole sentences, not all at the token limit', () => {
    if (process.env.DEBUG_TURNS) console.log(endings.join(' '));
    expect(endings).toHaveLength(cases.length * 2);
    expect(endings.filter(e => e !== 'length').length).toBeGreaterThan(0);
  });

  it.each([1, 2, 5, 12, 30])('is a prefix of a sentence when cut off at %i tokens', async maxTokens => {
    const out = await stream(host.url, { prompt: 'Q: anything\n', grammar: 'datarus', maxTokens, temperature: 0.8, seed: maxTokens });
    expect(out.done.stopReason).toBe('length');
    expect(isProtocolPrefix(out.done.text)).toBe(true);
    expect(out.chunks.join('')).toBe(out.done.text);
    expect(out.done.usage.completionTokens).toBeGreaterThan(0);
  });

  it('stops inside a free part at a stop string that is not protocol text', async () => {
    const out = await stream(host.url, { prompt: 'Q: stop early\n', grammar: 'datarus', maxTokens: 200, temperature: 0, seed: 3, stop: ['<thought>'] });
    expect(out.done).toMatchObject({ stopReason: 'stop', stopString: '<thought>' });
    expect(out.done.text).toMatch(/^<(step|stop_analysis)>\n$/);
    expect(out.chunks.join('')).toBe(out.done.text);
  });

  it('lets the next step of an episode reuse the KV cache for a segmented turn', async () => {
    const system = { role: 'system', content: 'You are Datarus.' };
    const question = { role: 'user', content: 'What is the sum of x?' };
    // Ended or cut off, the turn is what the agent sends back as the assistant's message. The fixture's
    // random weights often write broken UTF-8, which no text round-trips: seeds until a turn is clean text.
    let first: Streamed | null = null;
    for (let seed = 1; seed <= 40 && !first; seed++) {
      const out = await stream(host.url, { episodeId: 'kv', messages: [system, question], grammar: 'datarus', maxTokens: 28, temperature: 0.7, seed, stop: ['</step>', '</stop_analysis>'] });
      if (!out.done.text.includes('\uFFFD')) {
        first = out;
      } else {
        await fetch(`${host.url}/api/episodes/kv`, { method: 'DELETE', headers: HEADERS });
      }
    }
    expect(first).not.toBeNull();
    const assistant = { role: 'assistant', content: first!.done.text + (first!.done.stopString ?? '') };
    const observation = { role: 'user', content: `${formatObservation('6')}\nContinue with the analysis.` };
    const second = await stream(host.url, {
      episodeId: 'kv',
      messages: [system, question, assistant, observation],
      grammar: 'datarus',
      maxTokens: 8,
      temperature: 0.7,
      seed: 1
    });
    const u = second.done.usage;
    const newTokens = u.promptTokens - first!.done.usage.promptTokens - first!.done.usage.completionTokens;
    expect(u.evaluatedPromptTokens).toBeLessThanOrEqual(newTokens + 2);
    expect(u.evaluatedPromptTokens).toBeLessThan(u.promptTokens / 2);
  });
});
