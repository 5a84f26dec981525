/**
 * The prompt-state policy: a scripted clock and scripted costs per token make
 * a GPU-like host (a load no cheaper than evaluating) choose evaluation, a
 * CPU-like host (states a thousand times cheaper) choose states, and one far
 * too slow save stop further saves. The prompt cache's real code times a
 * scripted sequence whose operations advance the clock.
 */
import { readFileSync, writeFileSync } from 'node:fs';

import type { Token } from 'node-llama-cpp';

import type { PromptCacheDevice } from '../../src/contract';
import { CacheableSequence, commonPrefixLength, PromptCache } from '../../src/host/promptCache/promptCache';
import { StatePolicy } from '../../src/host/promptCache/statePolicy';

const MODEL = { name: 'scripted model' };
const CONTEXT = 8192;

interface Costs {
  /** Milliseconds per token of each operation. */
  evaluate: number;
  save: number;
  load: number;
  /** Milliseconds the next save costs instead (the scattered-cells case). */
  nextSaveMs?: number;
}

class Clock {
  ms = 0;
  readonly now = (): number => this.ms;
}

const BATCH = 512;

/**
 * One context on a scripted device, for simulated contention: one operation at a time, in the
 * order asked, an evaluation in batches of BATCH tokens, so evaluations side by side share the
 * batches (turn by turn) and every operation waits for those asked before it, as with llama.cpp.
 */
class Device {
  constructor(private readonly _clock: Clock) {}

  run(ms: number): Promise<void> {
    return new Promise(done => {
      this._jobs.push({ ms, done });
      void this._pump();
    });
  }

  private async _pump(): Promise<void> {
    if (this._running) {
      return;
    }
    this._running = true;
    while (this._jobs.length > 0) {
      await new Promise(resolve => setImmediate(resolve)); // what is asked meanwhile joins the queue
      const job = this._jobs.shift()!;
      this._clock.ms += job.ms;
      job.done();
    }
    this._running = false;
  }

  private readonly _jobs: { ms: number; done: () => void }[] = [];
  private _running = false;
}

class TimedSequence implements CacheableSequence {
  contextTokens: Token[] = [];
  readonly contextSize = CONTEXT;
  readonly model = MODEL;
  evaluated = 0;
  loads = 0;
  /** The clock when the sequence last finished an operation. */
  readyAt = 0;

  constructor(
    private readonly _clock: Clock,
    private readonly _costs: Costs,
    /** Without a device, each operation advances the clock by its own cost at once (no contention). */
    private readonly _device: Device | null = null
  ) {}

  async adaptStateToTokens(tokens: Token[]): Promise<void> {
    this.contextTokens = this.contextTokens.slice(0, commonPrefixLength(this.contextTokens, tokens));
  }

  async evaluateWithoutGeneratingNewTokens(tokens: Token[]): Promise<void> {
    for (let from = 0; from < tokens.length; from += BATCH) {
      await this._cost(Math.min(BATCH, tokens.length - from) * this._costs.evaluate);
    }
    this.evaluated += tokens.length;
    this.contextTokens = [...this.contextTokens, ...tokens];
  }

  async saveStateToFile(file: string): Promise<{ fileSize: number }> {
    await this._cost(this._costs.nextSaveMs ?? this.contextTokens.length * this._costs.save);
    delete this._costs.nextSaveMs;
    const text = JSON.stringify(this.contextTokens);
    writeFileSync(file, text);
    return { fileSize: text.length };
  }

  async loadStateFromFile(file: string): Promise<void> {
    this.loads++;
    const tokens = JSON.parse(readFileSync(file, 'utf8'));
    await this._cost(tokens.length * this._costs.load);
    this.contextTokens = tokens;
  }

  private async _cost(ms: number): Promise<void> {
    if (this._device) {
      await this._device.run(ms);
    } else {
      this._clock.ms += ms;
    }
    this.readyAt = this._clock.ms;
  }

  async clearHistory(): Promise<void> {
    this.contextTokens = [];
  }
}

const run = (from: number, n: number): Token[] => Array.from({ length: n }, (_, i) => (from + i) as Token);
const SYSTEM = run(1000, 1000);
const prompt = (question: number, system = SYSTEM): Token[] => [...system, ...run(question * 10000, 60)];

describe('the prompt-state policy on a prompt cache', () => {
  let cache: PromptCache;
  let clock: Clock;
  const make = (device: PromptCacheDevice) => {
    clock = new Clock();
    cache = new PromptCache({ model: MODEL, contextSize: CONTEXT, minTokens: 16, mode: 'auto', device, now: clock.now });
  };
  afterEach(async () => {
    await cache.dispose();
  });

  /** Three new episodes sharing the system prompt, one after another; the sequences they ran on. */
  async function threeEpisodes(costs: Costs): Promise<TimedSequence[]> {
    const sequences: TimedSequence[] = [];
    for (const question of [1, 2, 3]) {
      const sequence = new TimedSequence(clock, costs);
      const tokens = prompt(question);
      await cache.prepare(sequence, tokens, { boundaries: [SYSTEM.length], fresh: true });
      expect(sequence.contextTokens).toEqual(tokens.slice(0, -1));
      sequences.push(sequence);
    }
    return sequences;
  }

  it('on a GPU-like host, where a load costs more than evaluating, probes once and then evaluates', async () => {
    make('gpu');
    const [first, second, third] = await threeEpisodes({ evaluate: 0.2, save: 0.09, load: 0.3 });
    expect(first.evaluated).toBe(SYSTEM.length + 59);
    // One load to measure it: 0.3 ms per token against 0.2 evaluating.
    expect(second.loads).toBe(1);
    expect(third.loads).toBe(0);
    expect(third.evaluated).toBe(SYSTEM.length + 59);
    const { policy } = cache.stats();
    expect(policy.prefillMsPerToken).toBeCloseTo(0.2);
    expect(policy.loadMsPerToken).toBeCloseTo(0.3);
    expect(policy.loadsSkipped).toBeGreaterThan(0);
    expect(policy.loadsDisabled).toBeNull();
  });

  it('on a CPU-like host, where states are a thousand times cheaper, starts every later episode from the saved state', async () => {
    make('cpu');
    const [first, second, third] = await threeEpisodes({ evaluate: 0.2, save: 0.0002, load: 0.0002 });
    expect(first.evaluated).toBe(SYSTEM.length + 59);
    for (const later of [second, third]) {
      expect(later.loads).toBe(1);
      expect(later.evaluated).toBe(59);
    }
    expect(cache.stats().policy).toMatchObject({ loadsSkipped: 0, savesSkipped: 0, savesDisabled: null });
  });

  it('on a GPU-like host where a load costs more than evaluating, a group evaluates side by side instead of waiting', async () => {
    make('gpu');
    const costs = { evaluate: 0.2, save: 0.09, load: 0.3 };
    await threeEpisodes(costs);
    const groupPrompt = prompt(9, run(70_000, 1000));
    const group = [0, 1, 2].map(() => new TimedSequence(clock, costs));
    await Promise.all(group.map(sequence => cache.prepare(sequence, groupPrompt, { fresh: true })));
    expect(cache.stats().waits).toBe(0);
    for (const sequence of group) {
      expect(sequence.loads).toBe(0);
      expect(sequence.contextTokens).toEqual(groupPrompt.slice(0, -1));
    }
  });

  it('on a CPU-like host, a group waits for the first prefill and loads it', async () => {
    make('cpu');
    const costs = { evaluate: 0.2, save: 0.0002, load: 0.0002 };
    await threeEpisodes(costs);
    const groupPrompt = prompt(9, run(70_000, 1000));
    const group = [0, 1, 2].map(() => new TimedSequence(clock, costs));
    await Promise.all(group.map(sequence => cache.prepare(sequence, groupPrompt, { fresh: true })));
    expect(cache.stats().waits).toBe(2);
    expect(group.map(sequence => sequence.loads)).toEqual([0, 1, 1]);
  });

  it('on a GPU-like host where states pay off, keeps loading them', async () => {
    make('gpu');
    const [, second, third] = await threeEpisodes({ evaluate: 0.44, save: 0.09, load: 0.22 });
    expect(second.loads).toBe(1);
    expect(third.loads).toBe(1);
    expect(third.evaluated).toBe(59);
  });

  it('stops saving after one save costs far more than expected, and evaluates instead', async () => {
    make('gpu');
    const costs: Costs = { evaluate: 0.2, save: 0.09, load: 0.1, nextSaveMs: 12_800 };
    await cache.prepare(new TimedSequence(clock, costs), prompt(1), { boundaries: [SYSTEM.length], fresh: true });
    const { policy, saves } = cache.stats();
    expect(saves).toBe(1);
    expect(policy.savesDisabled).toMatch(/a save of 1000 tokens took 12800 ms/);
    expect(policy.recent[0]).toMatchObject({ kind: 'save', tokens: 1000, ms: 12_800 });

    // Another system prompt: its prefix would have been saved, but saves are stopped.
    const other = run(50_000, 1000);
    const sequence = new TimedSequence(clock, costs);
    await cache.prepare(sequence, prompt(2, other), { boundaries: [other.length], fresh: true });
    expect(cache.stats().saves).toBe(1);
    expect(cache.stats().policy.savesSkipped).toBe(1);
    expect(sequence.contextTokens).toEqual(prompt(2, other).slice(0, -1));
  });

  it('on a GPU, never probes with a prefix too short to be worth saving', async () => {
    make('gpu');
    const short = run(1000, 100); // 20 ms to evaluate
    await cache.prepare(new TimedSequence(clock, { evaluate: 0.2, save: 0.09, load: 0.1 }), prompt(1, short), { boundaries: [short.length], fresh: true });
    expect(cache.stats()).toMatchObject({ saves: 0, policy: { savesSkipped: 1 } });
  });

  it('in mode on, saves and loads whatever the costs', async () => {
    clock = new Clock();
    cache = new PromptCache({ model: MODEL, contextSize: CONTEXT, minTokens: 16, mode: 'on', device: 'gpu', now: clock.now });
    const [, second, third] = await threeEpisodes({ evaluate: 0.2, save: 0.09, load: 0.3 });
    expect([second.loads, third.loads]).toEqual([1, 1]);
    expect(cache.stats().policy).toMatchObject({ mode: 'on', loadsSkipped: 0 });
  });
});

describe('the prompt-state policy under contention (a scripted device: one operation at a time, evaluations sharing batches)', () => {
  let cache: PromptCache;
  let clock: Clock;
  let device: Device;
  /** Requests preparing now: the generator's busyElsewhere counts the others. */
  let preparing = 0;
  const GPU_LIKE: Costs = { evaluate: 0.2, save: 0.09, load: 0.1 };

  const make = () => {
    clock = new Clock();
    device = new Device(clock);
    preparing = 0;
    cache = new PromptCache({ model: MODEL, contextSize: CONTEXT, minTokens: 16, mode: 'auto', device: 'gpu', now: clock.now, busyElsewhere: () => preparing > 1 });
  };
  afterEach(async () => {
    await cache.dispose();
  });

  async function prepare(sequence: TimedSequence, tokens: Token[], boundaries: number[] = []): Promise<void> {
    preparing++;
    try {
      await cache.prepare(sequence, tokens, { boundaries, fresh: true });
    } finally {
      preparing--;
    }
    expect(sequence.contextTokens).toEqual(tokens.slice(0, -1));
  }

  /** New episodes of the system prompt, one after another: the policy's estimates, each measured alone. */
  async function warmUp(): Promise<void> {
    for (const question of [1, 2, 3]) {
      await prepare(new TimedSequence(clock, GPU_LIKE, device), prompt(question), [SYSTEM.length]);
    }
  }

  /** `count` new episodes at once; each its own prompt, or all one prompt; what they evaluated and when each was ready. */
  async function atOnce(count: number, samePrompt: boolean): Promise<{ evaluated: number; loads: number; lastReadyMs: number; promptTokens: number }> {
    const started = clock.ms;
    const prompts = Array.from({ length: count }, (_, i) => (samePrompt ? prompt(90, run(70_000, 1000)) : prompt(50 + i, run(100_000 + i * 5000, 1000))));
    const group = prompts.map(() => new TimedSequence(clock, GPU_LIKE, device));
    await Promise.all(group.map((sequence, i) => prepare(sequence, prompts[i])));
    return {
      evaluated: group.reduce((n, s) => n + s.evaluated, 0),
      loads: group.reduce((n, s) => n + s.loads, 0),
      lastReadyMs: Math.max(...group.map(s => s.readyAt)) - started,
      promptTokens: prompts[0].length - 1
    };
  }

  it('an evaluation beside others counts its share of the time, not the whole wait', async () => {
    make();
    await warmUp();
    const before = cache.stats().policy;
    expect(before.prefillMsPerToken).toBeCloseTo(0.2);
    // Three new prompts at once: each evaluation takes about three times its own cost in wall time.
    await atOnce(3, false);
    const after = cache.stats().policy;
    expect(after.evaluationsContended - before.evaluationsContended).toBe(3);
    expect(after.prefillMsPerToken).toBeGreaterThan(0.15);
    expect(after.prefillMsPerToken).toBeLessThan(0.3);
  });

  it('a group of 8 where a load costs half an evaluation evaluates its prompt once, its first tokens no later than a cold group', async () => {
    make();
    await warmUp();
    const group = await atOnce(8, true);
    const cold = await atOnce(8, false);
    // The first evaluates, the seven others wait for it and load its state (one after another).
    expect(group.loads).toBe(7);
    expect(group.evaluated / group.promptTokens).toBeLessThanOrEqual(1.1);
    expect(cold.evaluated / cold.promptTokens).toBeCloseTo(8, 1);
    expect(group.lastReadyMs).toBeLessThanOrEqual(cold.lastReadyMs);
    expect(cache.stats().policy.loadsDisabled).toBeNull();
  });
});

describe('the state policy', () => {
  it('weighs a load against evaluating beside the evaluations under way; the loads queued before it are paid either way', () => {
    const policy = new StatePolicy({ mode: 'auto', device: 'gpu' });
    policy.recordEvaluation(1000, 200);
    policy.record('load', 1000, 250);
    // A load dearer than evaluating alone…
    expect(policy.shouldLoad(1000)).toBe(false);
    // …is cheaper than evaluating beside another evaluation, which shares its batches.
    expect(policy.shouldLoad(1000, { evaluating: 1 })).toBe(true);
    // Tokens the sequence already holds are not evaluated either way.
    expect(policy.shouldLoad(1000, { held: 500, evaluating: 1 })).toBe(false);
  });

  it('takes an evaluation that shared the context as its share, and counts it as contended', () => {
    const policy = new StatePolicy({ mode: 'auto', device: 'gpu' });
    policy.recordEvaluation(1000, 200);
    policy.recordEvaluation(1000, 600, { shared: 2 });
    policy.recordEvaluation(1000, 200, { contended: true }); // beside decode steps only
    expect(policy.status()).toMatchObject({ prefillMsPerToken: 0.2, evaluationsTimed: 3, evaluationsContended: 2 });
    policy.recordEvaluation(100, 900, { shared: 1 }); // too short to time
    expect(policy.status()).toMatchObject({ prefillMsPerToken: 0.2, evaluationsTimed: 3 });
  });

  it('does not take a load that waited behind others for a slow one', () => {
    const queuedBehind = new StatePolicy({ mode: 'auto', device: 'gpu' });
    const alone = new StatePolicy({ mode: 'auto', device: 'gpu' });
    for (const policy of [queuedBehind, alone]) {
      policy.recordEvaluation(1000, 200);
      policy.record('load', 1000, 100);
    }
    queuedBehind.record('load', 1000, 1000, { queued: 3 });
    alone.record('load', 1000, 1000);
    expect(queuedBehind.status().loadsDisabled).toBeNull();
    expect(alone.status().loadsDisabled).toMatch(/a load of 1000 tokens took 1000 ms/);
  });

  it('does not judge an operation that shared the context with other requests, nor one before any evaluation was timed', () => {
    const policy = new StatePolicy({ mode: 'auto', device: 'cpu' });
    policy.record('load', 48, 208);
    policy.recordEvaluation(1000, 200);
    policy.record('load', 48, 208, { contended: true });
    expect(policy.status()).toMatchObject({ loadsDisabled: null, recent: [{ contended: true }, { contended: false }] });
  });

  it('before anything is measured: states on for the CPU, not on a GPU', () => {
    expect(new StatePolicy({ mode: 'auto', device: 'cpu' }).shouldLoad(1000)).toBe(true);
    expect(new StatePolicy({ mode: 'auto', device: 'gpu' }).shouldLoad(1000)).toBe(false);
  });

  it('saves only what is expected to be reused, and nothing once loads are stopped', () => {
    const policy = new StatePolicy({ mode: 'auto', device: 'cpu' });
    policy.recordEvaluation(1000, 200);
    expect(policy.shouldSave(1000, 0)).toBe(false);
    expect(policy.shouldSave(1000, 1)).toBe(true);
    policy.record('load', 1000, 5000);
    expect(policy.status().loadsDisabled).toMatch(/a load of 1000 tokens took 5000 ms/);
    expect(policy.shouldLoad(1000)).toBe(false);
    expect(policy.shouldSave(1000, 1)).toBe(false);
  });
});
