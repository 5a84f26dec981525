/**
 * Choosing CPU threads by measurement. ggml's workers busy-wait at every
 * barrier, so more threads than free cores is far slower (measured: 4 threads on
 * 2 cores at ~1/100 the speed of 1; see ARCHITECTURE.md), and the best count depends on
 * the model: a tiny model is fastest on 1, a larger one may gain from 2. The
 * host therefore times a short greedy decode with each count from 1 to the
 * cores and keeps the fastest.
 */
import * as os from 'node:os';
import type { LlamaModel } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import type { ThreadMeasurement } from '../../contract';

type LlamaModule = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });

/** Half the cores, at least 1: the choice when nothing was measured. */
export function fallbackThreads(cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / 2));
}

/**
 * Decode speed of `model` with `threads` (null: node-llama-cpp's own default),
 * over `tokens` greedy tokens after a short prompt. With `timeLimitMs`, a
 * measurement that runs longer ends there and counts what it decoded: on a
 * busy machine a thread count that busy-waits can be hundreds of times slower
 * (2.1 tok/s against 1,789 with one thread, measured with the load average at
 * 21), and measuring it to the end held both cores for over a minute.
 */
export async function measureDecode(lib: LlamaModule, model: LlamaModel, threads: number | null, tokens = 12, timeLimitMs?: number): Promise<number> {
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
    const limit = timeLimitMs === undefined ? undefined : AbortSignal.timeout(timeLimitMs);
    const options = { temperature: 0, tokenBias, signal: limit, stopOnAbortSignal: true };
    const started = performance.now();
    let before = 0;
    try {
      // Warm-up: the first evaluation pays one-off costs.
      await completion.generateCompletion(prompt, { ...options, maxTokens: 2 });
      // Tokens are counted by the sequence: text callbacks hold back bytes that are not yet valid UTF-8.
      before = sequence.tokenMeter.usedOutputTokens;
      const decodeStarted = performance.now();
      await completion.generateCompletion(prompt, { ...options, maxTokens: tokens });
      const seconds = (performance.now() - decodeStarted) / 1000;
      return (sequence.tokenMeter.usedOutputTokens - before) / Math.max(seconds, 1e-6);
    } catch (err) {
      if (!limit?.aborted) {
        throw err;
      }
      // The limit struck while a prompt was evaluated: what was decoded in all that time is the speed.
      return Math.max(0, sequence.tokenMeter.usedOutputTokens - before) / ((performance.now() - started) / 1000);
    }
  } finally {
    await context.dispose();
  }
}

/** Enough tokens for about `budgetMs` of decoding at the probed speed, within [4, 48]. */
export async function tokensForBudget(lib: LlamaModule, model: LlamaModel, budgetMs: number): Promise<number> {
  const probe = await measureDecode(lib, model, 1, 4);
  return Math.max(4, Math.min(48, Math.round((probe * budgetMs) / 1000)));
}

export interface MeasureOptions {
  /** Ends each measurement after this long (see `measureDecode`). */
  timeLimitMs?: number;
  /** After the first round, stop measuring counts slower than this fraction of the fastest: they cannot win. */
  dropBelow?: number;
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
  rounds = 3,
  options: MeasureOptions = {}
): Promise<ThreadMeasurement[]> {
  const samples = new Map<number, number[]>();
  let candidates = Array.from({ length: maxThreads }, (_, i) => i + 1);
  for (let round = 0; round < rounds; round++) {
    for (const threads of candidates) {
      const list = samples.get(threads) ?? [];
      list.push(await measureDecode(lib, model, threads, tokens, options.timeLimitMs));
      samples.set(threads, list);
    }
    if (round === 0 && options.dropBelow !== undefined) {
      const fastest = Math.max(...candidates.map(t => samples.get(t)![0]));
      candidates = candidates.filter(t => samples.get(t)![0] >= options.dropBelow! * fastest);
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
  // Each count gets about a second, three at most; one far behind after the first round is not measured again.
  const measurements = await measureThreads(lib, model, maxThreads, await tokensForBudget(lib, model, 1000), 3, { timeLimitMs: 3000, dropBelow: 0.5 });
  const fastest = Math.max(...measurements.map(m => m.tokensPerSecond));
  const best = measurements.find(m => m.tokensPerSecond >= 0.9 * fastest)!;
  return { best: best.threads, measurements };
}
