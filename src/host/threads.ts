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
    const completion = new lib.LlamaCompletion({ contextSequence: context.getSequence() });
    const prompt = model.tokenize('The data shows that');
    // Warm-up: the first evaluation pays one-off costs.
    await completion.generateCompletion(prompt, { maxTokens: 2, temperature: 0 });
    const started = performance.now();
    let produced = 0;
    await completion.generateCompletion(prompt, {
      maxTokens: tokens,
      temperature: 0,
      onToken: t => {
        produced += t.length;
      }
    });
    const seconds = (performance.now() - started) / 1000;
    return produced / Math.max(seconds, 1e-6);
  } finally {
    await context.dispose();
  }
}

/**
 * Measures 1..maxThreads and keeps the fewest threads within 10% of the
 * fastest: more threads busy-wait on cores that Jupyter, the kernel and the
 * browser also need (the benchmark showed a 2-thread host on 2 cores starving
 * its own HTTP client), so they must earn their place.
 */
export async function calibrateThreads(
  lib: LlamaModule,
  model: LlamaModel,
  maxThreads = os.availableParallelism()
): Promise<{ best: number; measurements: ThreadMeasurement[] }> {
  const measurements: ThreadMeasurement[] = [];
  for (let threads = 1; threads <= maxThreads; threads++) {
    measurements.push({ threads, tokensPerSecond: await measureDecode(lib, model, threads) });
  }
  const fastest = Math.max(...measurements.map(m => m.tokensPerSecond));
  const best = measurements.find(m => m.tokensPerSecond >= 0.9 * fastest)!;
  return { best: best.threads, measurements };
}
