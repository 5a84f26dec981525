/**
 * The prompt cache's choices over a scripted sequence: which saved state a new
 * prompt starts from, what it evaluates, when a request waits for another's
 * prefill, and what is refused. The scripted sequence saves its tokens to the
 * state file and loads them back, as node-llama-cpp does with the KV cache.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Token } from 'node-llama-cpp';

import { CacheableSequence, commonPrefixLength, PromptCache } from '../../src/host/promptCache/promptCache';

const MODEL = { name: 'scripted model' };
const CONTEXT = 4096;

class ScriptedSequence implements CacheableSequence {
  contextTokens: Token[] = [];
  readonly contextSize: number;
  readonly model: object;
  evaluated: Token[][] = [];
  loads: string[] = [];
  /** Resolves the next evaluation when set: lets a test hold a prefill. */
  gate: Promise<void> | null = null;
  failLoad = false;

  constructor({ model = MODEL, contextSize = CONTEXT } = {}) {
    this.model = model;
    this.contextSize = contextSize;
  }

  async adaptStateToTokens(tokens: Token[]): Promise<void> {
    this.contextTokens = this.contextTokens.slice(0, commonPrefixLength(this.contextTokens, tokens));
  }

  async evaluateWithoutGeneratingNewTokens(tokens: Token[]): Promise<void> {
    await this.gate;
    this.evaluated.push(tokens);
    this.contextTokens = [...this.contextTokens, ...tokens];
  }

  async saveStateToFile(file: string): Promise<{ fileSize: number }> {
    const text = JSON.stringify(this.contextTokens);
    writeFileSync(file, text);
    return { fileSize: text.length };
  }

  async loadStateFromFile(file: string): Promise<void> {
    this.loads.push(file);
    if (this.failLoad) {
      throw new Error('scripted load failure');
    }
    this.contextTokens = JSON.parse(readFileSync(file, 'utf8'));
  }

  async clearHistory(): Promise<void> {
    this.contextTokens = [];
  }

  get evaluatedCount(): number {
    return this.evaluated.reduce((n, t) => n + t.length, 0);
  }
}

/** `n` tokens counting from `from`. */
const run = (from: number, n: number): Token[] => Array.from({ length: n }, (_, i) => (from + i) as Token);
const SYSTEM = run(1000, 200);
const prompt = (question: number, length = 50): Token[] => [...SYSTEM, ...run(question * 10000, length)];

describe('the prompt cache', () => {
  let cache: PromptCache;
  beforeEach(() => {
    cache = new PromptCache({ model: MODEL, contextSize: CONTEXT, minTokens: 16 });
  });
  afterEach(async () => {
    await cache.dispose();
  });

  it('saves the system prompt of a first episode and starts the next one from it', async () => {
    const first = new ScriptedSequence();
    const a = prompt(1);
    const prepared = await cache.prepare(first, a, { boundaries: [SYSTEM.length], fresh: true });
    expect(prepared).toMatchObject({ reused: 0, loaded: 0, evaluated: a.length - 1 });
    // All but the last token: the generation evaluates that one with its first sample.
    expect(first.contextTokens).toEqual(a.slice(0, -1));
    expect(cache.stats()).toMatchObject({ entries: 1, saves: 1 });

    const second = new ScriptedSequence();
    const b = prompt(2);
    const warm = await cache.prepare(second, b, { boundaries: [SYSTEM.length], fresh: true });
    expect(warm).toMatchObject({ loaded: SYSTEM.length, evaluated: b.length - 1 - SYSTEM.length });
    expect(second.contextTokens).toEqual(b.slice(0, -1));
    expect(second.evaluated).toEqual([b.slice(SYSTEM.length, -1)]);
  });

  it('learns a prefix shared by two new prompts and cuts a longer saved state back to what is shared', async () => {
    const instructions = run(5000, 100);
    const withInstructions = (q: number) => [...SYSTEM, ...instructions, ...run(q * 10000, 40)];
    await cache.prepare(new ScriptedSequence(), withInstructions(1), { fresh: true });
    expect(cache.stats().entries).toBe(0);
    // The second shares system + instructions with the first: that prefix is saved on the way.
    const second = new ScriptedSequence();
    await cache.prepare(second, withInstructions(2), { fresh: true });
    expect(second.evaluated.map(t => t.length)).toEqual([SYSTEM.length + instructions.length, 39]);
    expect(cache.stats().entries).toBe(1);
    const third = new ScriptedSequence();
    const prepared = await cache.prepare(third, withInstructions(3), { fresh: true });
    expect(prepared.loaded).toBe(SYSTEM.length + instructions.length);
    expect(third.contextTokens).toEqual(withInstructions(3).slice(0, -1));
  });

  it('leaves the next step of a running episode to the generation', async () => {
    const sequence = new ScriptedSequence();
    const a = prompt(1);
    await cache.prepare(sequence, a, { boundaries: [SYSTEM.length], fresh: true });
    const next = [...a, ...run(70000, 60)];
    const prepared = await cache.prepare(sequence, next, { boundaries: [SYSTEM.length], fresh: false });
    expect(prepared).toMatchObject({ reused: a.length - 1, loaded: 0, evaluated: 0 });
    expect(sequence.evaluated).toHaveLength(2); // the first prompt's two parts, nothing since
  });

  it('keeps what a handed-over sequence shares instead of loading the same prefix', async () => {
    await cache.prepare(new ScriptedSequence(), prompt(1), { boundaries: [SYSTEM.length], fresh: true });
    const handedOver = new ScriptedSequence();
    handedOver.contextTokens = prompt(9);
    const b = prompt(2);
    const prepared = await cache.prepare(handedOver, b, { boundaries: [SYSTEM.length], fresh: true });
    expect(prepared).toMatchObject({ reused: SYSTEM.length, loaded: 0 });
    expect(handedOver.loads).toEqual([]);
    expect(handedOver.contextTokens).toEqual(b.slice(0, -1));
  });

  it('makes a group of new episodes with one prompt wait for the first prefill and load it', async () => {
    const group = prompt(3, 300);
    const sequences = [0, 1, 2, 3].map(() => new ScriptedSequence());
    let open: () => void = () => undefined;
    sequences[0].gate = new Promise<void>(r => (open = r));
    const prepared = sequences.map(s => cache.prepare(s, group, { boundaries: [SYSTEM.length], fresh: true }));
    open();
    const results = await Promise.all(prepared);
    expect(results[0]).toMatchObject({ loaded: 0, evaluated: group.length - 1 });
    for (const [i, result] of results.slice(1).entries()) {
      expect(result).toMatchObject({ loaded: group.length - 1, evaluated: 0 });
      expect(sequences[i + 1].contextTokens).toEqual(group.slice(0, -1));
    }
    const evaluated = sequences.reduce((n, s) => n + s.evaluatedCount, 0);
    expect(evaluated).toBe(group.length - 1);
    expect(cache.stats()).toMatchObject({ waits: 3, loads: 3 });
  });

  it('keeps the whole state of a prompt that comes again, for a group sent one request after another', async () => {
    const group = prompt(4, 300);
    const first = await cache.prepare(new ScriptedSequence(), group, { boundaries: [SYSTEM.length], fresh: true });
    expect(first.evaluated).toBe(group.length - 1);
    // The second evaluates what the system prompt's state lacks and keeps the whole prompt; the rest load it.
    const second = await cache.prepare(new ScriptedSequence(), group, { boundaries: [SYSTEM.length], fresh: true });
    expect(second).toMatchObject({ loaded: SYSTEM.length, evaluated: group.length - 1 - SYSTEM.length });
    for (let i = 0; i < 3; i++) {
      const sequence = new ScriptedSequence();
      expect(await cache.prepare(sequence, group, { boundaries: [SYSTEM.length], fresh: true })).toMatchObject({ loaded: group.length - 1, evaluated: 0 });
      expect(sequence.contextTokens).toEqual(group.slice(0, -1));
    }
  });

  it('evaluates in full when a saved state fails to load', async () => {
    await cache.prepare(new ScriptedSequence(), prompt(1), { boundaries: [SYSTEM.length], fresh: true });
    const broken = new ScriptedSequence();
    broken.failLoad = true;
    const b = prompt(2);
    const prepared = await cache.prepare(broken, b, { boundaries: [SYSTEM.length], fresh: true });
    expect(prepared).toMatchObject({ loaded: 0, evaluated: b.length - 1 });
    expect(broken.contextTokens).toEqual(b.slice(0, -1));
  });

  it('refuses a sequence of another model or context size', async () => {
    await expect(cache.prepare(new ScriptedSequence({ model: { name: 'other' } }), prompt(1), { fresh: true })).rejects.toThrow(/another model or context size/);
    await expect(cache.prepare(new ScriptedSequence({ contextSize: 2048 }), prompt(1), { fresh: true })).rejects.toThrow(/another model or context size/);
  });

  it('keeps at most its entries, dropping the least recently used', async () => {
    const small = new PromptCache({ model: MODEL, contextSize: CONTEXT, minTokens: 16, maxEntries: 2 });
    try {
      for (const q of [1, 2, 3]) {
        const system = run(q * 100000, 100);
        await small.prepare(new ScriptedSequence(), [...system, ...run(7, 40)], { boundaries: [100], fresh: true });
      }
      expect(small.stats().entries).toBe(2);
      expect(readdirSync(small.dir)).toHaveLength(2);
    } finally {
      await small.dispose();
    }
  });

  it('keeps its files in a private folder that dispose removes', async () => {
    await cache.prepare(new ScriptedSequence(), prompt(1), { boundaries: [SYSTEM.length], fresh: true });
    expect(path.dirname(cache.dir)).toBe(os.tmpdir());
    expect(statSync(cache.dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(cache.dir)).toHaveLength(1);
    await cache.dispose();
    expect(existsSync(cache.dir)).toBe(false);
    await expect(cache.prepare(new ScriptedSequence(), prompt(1), { fresh: true })).rejects.toThrow(/disposed/);
  });

  it('removes the folders of hosts that are no longer running, and only those', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'prompt-cache-parent-'));
    try {
      const dead = path.join(parent, 'datarus-prompt-states-2147483646-abc');
      const alive = path.join(parent, `datarus-prompt-states-${process.pid}-def`);
      mkdirSync(dead);
      mkdirSync(alive);
      const other = new PromptCache({ model: MODEL, contextSize: CONTEXT, parentDir: parent });
      expect(existsSync(dead)).toBe(false);
      expect(existsSync(alive)).toBe(true);
      await other.dispose();
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
