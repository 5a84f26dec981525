/**
 * Warm starts on the real host with the fixture GGUF: a new episode starts from
 * the saved state of the prompt prefix it shares with earlier ones, and a group
 * of same-prompt requests evaluates the prompt once. Texts of requests run one
 * at a time are compared with what a host without the prompt cache
 * (`--no-prompt-cache`) writes for the same request: the fixture's random
 * weights and seeded sampling (temperature 1) make the text depend on every
 * logit, so a wrong KV state shows as other text. Requests running at once
 * share batches, and there float rounding alone can part two texts after many
 * tokens (with or without the cache); their states are compared as
 * distributions in promptCacheState.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { readEvents } from '../../src/agent/sse';
import { conversation } from '../../src/episode/conversation';
import { formatObservation } from '../../src/protocol';
import { getJson, Running, startHost, waitForStatus } from './processes';

jest.setTimeout(300000);

const TOKEN = 'warm-start-token';
const HEADERS = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
type Message = { role: string; content: string };

/** The first turn of an agentic episode under the datarus-r1 profile (a system prompt of about 1,200 fixture tokens). */
function firstTurn(question: string, systemPrefix = ''): Message[] {
  const messages = conversation({ question, context: undefined, promptProfile: 'datarus-r1', steps: [] });
  return systemPrefix ? [{ ...messages[0], content: systemPrefix + messages[0].content }, ...messages.slice(1)] : messages;
}

/** Seeded sampling with no grammar: the text follows the logits. */
const SAMPLING = { temperature: 1, seed: 11, maxTokens: 24 };

const observation = (step: number) => `${formatObservation(`step ${step} output`)}\nContinue with the analysis.`;

async function generate(host: Running, body: object): Promise<any> {
  const response = await fetch(`${host.url}/api/generate`, { method: 'POST', headers: HEADERS, body: JSON.stringify(body) });
  if (!response.ok) {
    throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  }
  let done: any = null;
  await readEvents(response, event => {
    if (event.event === 'done') {
      done = JSON.parse(event.data);
    } else if (event.event === 'error') {
      throw new Error(event.data);
    }
  });
  return done;
}

const end = (host: Running, id: string) => getJson(`${host.url}/api/episodes/${id}`, { method: 'DELETE', headers: HEADERS });
const status = (host: Running) => getJson(`${host.url}/api/status`, { headers: HEADERS });

async function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const host = await startHost(['--model', 'datarus-test-tiny', '--token', TOKEN, '--threads', '1', ...args], env);
  await waitForStatus(() => status(host), s => s.state === 'ready');
  return host;
}

describe('warm starts on the real host', () => {
  let warm: Running;
  let cold: Running;
  let tmp: string;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'warm-start-test-'));
    [warm, cold] = await Promise.all([start(['--max-episodes', '4'], { TMPDIR: tmp }), start(['--max-episodes', '4', '--no-prompt-cache'])]);
  });

  afterAll(async () => {
    await Promise.all([warm?.stop(), cold?.stop()]);
    rmSync(tmp, { recursive: true, force: true });
  });

  /** What the host without a prompt cache writes for `body` in a new episode of its own. */
  async function coldText(body: object): Promise<string> {
    const id = `cold-${Math.random().toString(36).slice(2)}`;
    const done = await generate(cold, { ...body, episodeId: id });
    await end(cold, id);
    expect(done.warmStart).toBeNull();
    expect(done.usage.evaluatedPromptTokens).toBe(done.usage.promptTokens);
    return done.text;
  }

  it('starts a new episode from the saved system prompt and writes what a cold start writes', async () => {
    const first = await generate(warm, { episodeId: 'ws-1', messages: firstTurn('What is the mean of column x in df?'), ...SAMPLING });
    expect(first.usage.evaluatedPromptTokens).toBe(first.usage.promptTokens);
    const body = { messages: firstTurn('Which region sold the most units?'), ...SAMPLING };
    const second = await generate(warm, { ...body, episodeId: 'ws-2' });
    const u = second.usage;
    // The system prompt came from the state saved by the first episode; only the rest was evaluated.
    expect(second.warmStart.loaded).toBeGreaterThan(1000);
    expect(u.evaluatedPromptTokens).toBeLessThan(u.promptTokens / 4);
    // Every prompt token is accounted for: loaded, kept, or evaluated.
    expect(second.warmStart.loaded + second.warmStart.reused + u.evaluatedPromptTokens).toBe(u.promptTokens);
    expect(second.text).toBe(await coldText(body));
    // The text does depend on the prompt: the other question gave other text.
    expect(second.text).not.toBe(first.text);
    await end(warm, 'ws-1');
    await end(warm, 'ws-2');
  });

  it('writes the same protocol turn warm as cold (the segmented decoder on a loaded state)', async () => {
    const body = { messages: firstTurn('How many rows have a missing price?'), grammar: 'datarus', stop: ['</step>', '</stop_analysis>'], ...SAMPLING, maxTokens: 60 };
    const done = await generate(warm, { ...body, episodeId: 'ws-protocol' });
    expect(done.warmStart.loaded).toBeGreaterThan(1000);
    expect(done.text).toBe(await coldText(body));
    await end(warm, 'ws-protocol');
  });

  it('evaluates the prompt of a group of four same-prompt requests once', async () => {
    // A system prompt no earlier request shared: the group's first request evaluates it all.
    const body = { messages: firstTurn('Plot the distribution of prices per region.', 'Group run. '), ...SAMPLING };
    const group = await Promise.all([0, 1, 2, 3].map(i => generate(warm, { ...body, episodeId: `group-${i}` })));
    const promptTokens = group[0].usage.promptTokens;
    const evaluated = group.reduce((n, done) => n + done.usage.evaluatedPromptTokens, 0);
    expect(evaluated).toBeGreaterThanOrEqual(promptTokens - 1);
    expect(evaluated / promptTokens).toBeLessThanOrEqual(1.1);
    expect(group.filter(done => done.warmStart.loaded === promptTokens)).toHaveLength(3);
    const { episodes } = (await status(warm)).body;
    expect(episodes.promptCache.waits).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < 4; i++) {
      await end(warm, `group-${i}`);
    }
    // The state the group shared, loaded by a fifth episode on its own, writes what a cold start writes.
    const fifth = await generate(warm, { ...body, episodeId: 'group-4' });
    expect(fifth.warmStart.loaded).toBe(promptTokens);
    expect(fifth.text).toBe(await coldText(body));
    await end(warm, 'group-4');
  });

  it('starts different prompts at once each from the shared system prompt, evaluating only its own rest', async () => {
    const questions = ['What is the total revenue?', 'Which product has the highest margin?', 'Are there duplicate order ids?'];
    const bodies = questions.map(q => ({ messages: firstTurn(q), ...SAMPLING }));
    const done = await Promise.all(bodies.map((body, i) => generate(warm, { ...body, episodeId: `apart-${i}` })));
    for (const [i, d] of done.entries()) {
      expect(d.warmStart.loaded).toBeGreaterThan(1000);
      expect(d.warmStart.loaded + d.warmStart.reused + d.usage.evaluatedPromptTokens).toBe(d.usage.promptTokens);
      await end(warm, `apart-${i}`);
    }
    expect(new Set(done.map(d => d.text)).size).toBe(3);
    // One of them again, alone: the text of a cold start.
    const again = await generate(warm, { ...bodies[1], episodeId: 'apart-again' });
    expect(again.text).toBe(await coldText(bodies[1]));
    await end(warm, 'apart-again');
  });

  it('keeps its state files in a private folder that goes away when the host stops', async () => {
    const [folder, ...others] = readdirSync(tmp).filter(name => name.startsWith('datarus-prompt-states-'));
    expect(others).toEqual([]);
    expect(statSync(path.join(tmp, folder)).mode & 0o777).toBe(0o700);
    expect(readdirSync(path.join(tmp, folder)).length).toBeGreaterThan(0);
    await warm.stop();
    expect(existsSync(path.join(tmp, folder))).toBe(false);
  });
});

describe('interleaved episodes on a host with fewer slots than episodes', () => {
  let warm: Running;
  let cold: Running;

  beforeAll(async () => {
    [warm, cold] = await Promise.all([start(['--max-episodes', '2']), start(['--max-episodes', '4', '--no-prompt-cache'])]);
  });

  afterAll(async () => {
    await Promise.all([warm?.stop(), cold?.stop()]);
  });

  /** `turns` steps of an episode, each with the previous turn and an observation appended; the seed changes each step. */
  async function steps(host: Running, id: string, question: string, turns: number): Promise<string[]> {
    const messages = firstTurn(question);
    const texts: string[] = [];
    for (let i = 0; i < turns; i++) {
      const done = await generate(host, { episodeId: id, messages, ...SAMPLING, seed: SAMPLING.seed + i });
      texts.push(done.text);
      messages.push({ role: 'assistant', content: done.text }, { role: 'user', content: observation(i) });
    }
    return texts;
  }

  it('runs three episodes round robin on two slots, each step prepared from what its prompt shares', async () => {
    const questions = ['Mean of x?', 'Max of y by group?', 'Rows where z is null?'];
    const alone: string[][] = [];
    for (const [i, q] of questions.entries()) {
      alone.push(await steps(cold, `alone-${i}`, q, 3));
      await end(cold, `alone-${i}`);
    }
    // Every step of one episode evicts another: its next request starts from a handed-over sequence or a saved state.
    const turns: any[][] = [[], [], []];
    const messages = questions.map(q => firstTurn(q));
    for (let step = 0; step < 3; step++) {
      for (const i of [0, 1, 2]) {
        const done = await generate(warm, { episodeId: `rr-${i}`, messages: messages[i], ...SAMPLING, seed: SAMPLING.seed + step });
        turns[i].push(done);
        messages[i].push({ role: 'assistant', content: done.text }, { role: 'user', content: observation(step) });
      }
    }
    for (const [i, episode] of turns.entries()) {
      // First turns run one at a time on a clean sequence: the texts of a cold start.
      expect(episode[0].text).toBe(alone[i][0]);
      for (const done of episode) {
        expect(done.warmStart.loaded + done.warmStart.reused + done.usage.evaluatedPromptTokens).toBe(done.usage.promptTokens);
        if (done !== turns[0][0]) {
          // All but the host's very first request start from a prefix evaluated before.
          expect(done.usage.evaluatedPromptTokens).toBeLessThan(done.usage.promptTokens / 2);
        }
      }
    }
    const { episodes } = (await status(warm)).body;
    expect(episodes.promptCache.loads).toBeGreaterThan(0);
    for (const i of [0, 1, 2]) {
      await end(warm, `rr-${i}`);
    }
  });

  it('starts nothing from a state saved under another context size', async () => {
    await generate(warm, { episodeId: 'before-reload', messages: firstTurn('Sum of x?'), ...SAMPLING });
    await end(warm, 'before-reload');
    const loaded = await getJson(`${warm.url}/api/models/load`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ model: 'datarus-test-tiny', contextSize: 4096 }) });
    expect(loaded.status).toBe(200);
    await waitForStatus(() => status(warm), s => s.state === 'ready' && s.contextSize === 4096);
    const body = { messages: firstTurn('Sum of y?'), ...SAMPLING };
    const done = await generate(warm, { ...body, episodeId: 'after-reload' });
    expect(done.warmStart.loaded).toBe(0);
    expect(done.usage.evaluatedPromptTokens).toBe(done.usage.promptTokens);
  });
});
