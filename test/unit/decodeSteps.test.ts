/**
 * Decode steps taken together, with scripted sequences: each `evaluate` is a
 * generator whose tokens take a scripted time to decode, consumed the way
 * LlamaCompletion consumes them (one token, some work, the next). The log
 * records when each sequence asks for a decode, so a step taken together shows
 * as the sequences asking in the same tick. Time is jest's fake clock, moved a
 * millisecond at a time, so the runs do not depend on the machine's load.
 */
import type { LlamaContextSequence, Token } from 'node-llama-cpp';

import { DecodeSteps, SequenceEvaluate } from '../../src/host/generation/decodeSteps';

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

/** Moves the fake clock a millisecond at a time (with the promise jobs in between) until `work` settles. */
async function drive<T>(work: Promise<T>): Promise<T> {
  let settled = false;
  void work.finally(() => (settled = true)).catch(() => undefined);
  for (let ms = 0; !settled && ms < 10000; ms++) {
    await jest.advanceTimersByTimeAsync(1);
  }
  return work;
}

/** A sequence whose every decode takes `decodeMs`; `asks` logs [tick, name] each time it asks for a decode. */
class ScriptedSequence {
  constructor(
    readonly name: string,
    private readonly _decodeMs: number,
    private readonly _log: { readonly tick: number; asks: [number, string][] }
  ) {}

  evaluate: SequenceEvaluate = ((tokens: Token[]) => this._tokens(tokens)) as unknown as SequenceEvaluate;

  private async *_tokens(tokens: Token[]): AsyncGenerator<Token, void, void | Token | Token[]> {
    let next = tokens[tokens.length - 1];
    for (;;) {
      this._log.asks.push([this._log.tick, this.name]);
      await sleep(this._decodeMs);
      next = (next + 1) as Token;
      yield next;
    }
  }
}

/** Takes `count` tokens from the sequence, working `workMs` on each (as a consumer does), then stops. */
async function consume(sequence: { evaluate: SequenceEvaluate }, count: number, workMs = 0): Promise<Token[]> {
  const out: Token[] = [];
  for await (const token of sequence.evaluate([1 as Token])) {
    out.push(token);
    if (out.length === count) {
      break;
    }
    if (workMs > 0) {
      await sleep(workMs);
    }
  }
  return out;
}

/** The log, whose tick is the fake clock's millisecond. */
function logger() {
  const start = Date.now();
  const log = {
    get tick() {
      return Date.now() - start;
    },
    asks: [] as [number, string][]
  };
  return { log, stop: () => undefined };
}

/** The ticks in which `name` asked for a decode after its first (its prompt). */
const asksOf = (asks: [number, string][], name: string) => asks.filter(([, n]) => n === name).map(([t]) => t).slice(1);

describe('decode steps taken together', () => {
  it('two sequences out of step ask for each next token in the same tick', async () => {
    const { log, stop } = logger();
    const steps = new DecodeSteps();
    // Decodes of different lengths and a consumer that works between tokens: without alignment they drift apart.
    const a = new ScriptedSequence('a', 2, log);
    const b = new ScriptedSequence('b', 5, log);
    steps.align(a);
    steps.align(b);
    const [fromA, fromB] = await drive(Promise.all([consume(a, 12), consume(b, 6, 3)]));
    stop();
    expect(fromA).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(fromB).toEqual([2, 3, 4, 5, 6, 7]);
    // From b's first token on, each of its decodes is asked in the same tick as one of a's.
    const aTicks = new Set(asksOf(log.asks, 'a'));
    expect(asksOf(log.asks, 'b')).toHaveLength(5);
    expect(asksOf(log.asks, 'b').filter(t => !aTicks.has(t))).toEqual([]);
    const { steps: together, sequences } = steps.stats();
    expect(sequences - together).toBe(5); // five steps held both
  });

  it('without alignment the same sequences drift apart (what the alignment is for)', async () => {
    const { log, stop } = logger();
    await drive(Promise.all([consume(new ScriptedSequence('a', 2, log), 12), consume(new ScriptedSequence('b', 5, log), 6, 3)]));
    stop();
    const aTicks = new Set(asksOf(log.asks, 'a'));
    expect(asksOf(log.asks, 'b').filter(t => !aTicks.has(t)).length).toBeGreaterThan(2);
  });

  it('a sequence that stops lets the others go on, and one that starts later joins them', async () => {
    const { log, stop } = logger();
    const steps = new DecodeSteps();
    const [a, b, c] = ['a', 'b', 'c'].map(name => new ScriptedSequence(name, 1, log));
    for (const s of [a, b, c]) {
      steps.align(s);
    }
    const late = sleep(8).then(() => consume(c, 4));
    const [fromA, fromB, fromC] = await drive(Promise.all([consume(a, 12), consume(b, 3), late]));
    stop();
    expect([fromA.length, fromB.length, fromC.length]).toEqual([12, 3, 4]);
    // Once c has its first token, its later asks fall in ticks where a asks too.
    const aTicks = new Set(asksOf(log.asks, 'a'));
    expect(asksOf(log.asks, 'c').every(t => aTicks.has(t))).toBe(true);
  });

  it('a sequence alone never waits, and aligning twice wraps once', async () => {
    const { log, stop } = logger();
    const steps = new DecodeSteps();
    const a = new ScriptedSequence('a', 1, log);
    steps.align(a);
    const wrapped = a.evaluate;
    steps.align(a);
    expect(a.evaluate).toBe(wrapped);
    expect(await drive(consume(a, 5))).toEqual([2, 3, 4, 5, 6]);
    stop();
    expect(steps.stats()).toEqual({ steps: 4, sequences: 4 });
  });

  it('passes a replacement token from the consumer to the sequence', async () => {
    const steps = new DecodeSteps();
    const seen: (void | Token | Token[])[] = [];
    const sequence = {
      evaluate: (async function* () {
        for (let i = 0; i < 3; i++) {
          seen.push(yield i as Token);
        }
      }) as unknown as LlamaContextSequence['evaluate']
    };
    steps.align(sequence);
    const tokens = sequence.evaluate([0 as Token]);
    await tokens.next();
    await tokens.next(42 as Token);
    await tokens.next([7, 8] as Token[]);
    await tokens.return(undefined);
    expect(seen).toEqual([42, [7, 8]]);
  });
});
