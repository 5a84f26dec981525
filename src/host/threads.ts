/**
 * Choosing CPU threads by measurement. ggml's workers busy-wait at every
 * barrier, so more threads than free cores is far slower (design.md measured
 * 4 threads on 2 cores at ~1/100 the speed of 1), and the best count depends on
 * the model: a tiny model is fastest on 1, a larger one may gain from 2. The
 * host therefore times a short greedy decode with each count from 1 to the
 * cores and keeps the fastest.
 */
import * as os from 'node:os';
import type { LlamaModel } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

type LlamaModule = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });

export interface ThreadMeasurement {
  threads: number;
  tokensPerSecond: number;
}

/** Half the cores, at least 1: the choice when nothing was measured. */
export function fallbackThreads(cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / 2));
}

/**
 * Decode speed of `model` with `threads` (null: node-llama-cpp's own default),
 * over `tokens` greedy tokens after a short prompt.
 */
export async function measureDecode(lib: LlamaModule, model: LlamaModel, threads: number | null, tokens = 12): Promise<number> {
  const context = await model.createContext({ contextSize: 256, ...(threads === null ? {} : { threads: { ideal: threads, min: threads } }) });
  try {
    const sequence = context.getSequence();
    const completion = new lib.LlamaCompletion({ contextSequence: sequence });
    const prompt = model.tokenize('The data shows that');
    // A model may well end its text at once; the measurement needs every token it asks for.
    const tokenBias = new lib.TokenBias(model.tokenizer);
    for (const end of [model.tokens.eos, model.tokens.eot]) {
      if (end !== null) {
        tokenBias.set(end, 'never');
      }
    }
    // Warm-up: the first evaluation pays one-off costs.
    await completion.generateCompletion(prompt, { maxTokens: 2, temperature: 0, tokenBias });
    // Tokens are counted by the sequence: text callbacks hold back bytes that are not yet valid UTF-8.
    const before = sequence.tokenMeter.usedOutputTokens;
    const started = performance.now();
    await completion.generateCompletion(prompt, { maxTokens: tokens, temperature: 0, tokenBias });
    const seconds = (performance.now() - started) / 1000;
    return (sequence.tokenMeter.usedOutputTokens - before) / Math.max(seconds, 1e-6);
  } finally {
    await context.dispose();
  }
}

/** Enough tokens for about `budgetMs` of decoding at the probed speed, within [4, 48]. */
export async function tokensForBudget(lib: LlamaModule, model: LlamaModel, budgetMs: number): Promise<number> {
  const probe = await measureDecode(lib, model, 1, 4);
  return Math.max(4, Math.min(48, Math.round((probe * budgetMs) / 1000)));
}

/**
 * Decode speed for every thread count from 1 to `maxThreads`, the median of
 * `rounds` interleaved rounds (1, 2, …, 1, 2, …) so that a burst of load on a
 * shared machine does not decide the choice.
 */
export async function measureThreads(
  lib: LlamaModule,
  model: LlamaModel,
  maxThreads: number,
  tokens: number,
  rounds = 3
): Promise<ThreadMeasurement[]> {
  const samples = new Map<number, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (let threads = 1; threads <= maxThreads; threads++) {
      const list = samples.get(threads) ?? [];
      list.push(await measureDecode(lib, model, threads, tokens));
      samples.set(threads, list);
    }
  }
  return [...samples.entries()].map(([threads, list]) => {
    const sorted = [...list].sort((a, b) => a - b);
    return { threads, tokensPerSecond: sorted[Math.floor(sorted.length / 2)] };
  });
}

/**
 * Measures 1..maxThreads (about a second of decoding each, three interleaved
 * rounds) and keeps the fewest threads within 10% of the fastest: more threads
 * busy-wait on cores that Jupyter, the kernel and the browser also need (the
 * benchmark showed a 2-thread host on 2 cores starving its own HTTP client),
 * so they must earn their place.
 */
export async function calibrateThreads(
  lib: LlamaModule,
  model: LlamaModel,
  maxThreads = os.availableParallelism()
): Promise<{ best: number; measurements: ThreadMeasurement[] }> {
  const measurements = await measureThreads(lib, model, maxThreads, await tokensForBudget(lib, model, 1000));
  const fastest = Math.max(...measurements.map(m => m.tokensPerSecond));
  const best = measurements.find(m => m.tokensPerSecond >= 0.9 * fastest)!;
  return { best: best.threads, measurements };
}
