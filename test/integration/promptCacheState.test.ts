/**
 * The states the prompt cache prepares, read where it matters: the next-token
 * distribution on real node-llama-cpp sequences of one context with the fixture
 * GGUF, against the same prompts evaluated from scratch. Texts sampled over HTTP
 * (warmStart.test.ts) can part after many tokens for float rounding alone when
 * sequences share a batch or the KV cache is fragmented; distributions show a
 * wrong state at once and rounding as what it is.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { FIXTURE, ROOT } from './paths';

jest.setTimeout(120000);

/** Log-probabilities this close are the same state; the fixture's different prompts differ by more than twice this. */
const SAME = 1e-3;

describe('prompt states prepared by the cache', () => {
  let probe: any;

  beforeAll(() => {
    const script = path.join(__dirname, 'fixtures', 'promptCacheProbe.mjs');
    probe = JSON.parse(execFileSync(process.execPath, [script, ROOT, FIXTURE], { encoding: 'utf8' }));
  });

  it('starts a second episode from the first one\'s saved system prompt, with the distribution of a cold start', () => {
    expect(probe.prepared.B.loaded).toBeGreaterThan(1000);
    expect(probe.prepared.B.evaluated).toBe(probe.promptTokens.B - 1 - probe.prepared.B.loaded);
    expect(probe.distance.warmBvsColdB).toBeLessThan(SAME);
    // The check can fail: the other prompt's distribution is farther than that.
    expect(probe.distance.warmBvsColdA).toBeGreaterThan(2 * SAME);
  });

  it('keeps two live sequences apart after one was prepared from the other\'s saved state', () => {
    expect(probe.distance.warmAvsColdA).toBeLessThan(SAME);
    expect(probe.distance.coldAvsColdB).toBeGreaterThan(2 * SAME);
  });

  it('evaluates the prompt of a group of four once, and each member holds the cold state', () => {
    const evaluated = probe.prepared.group.reduce((n: number, p: any) => n + p.evaluated, 0);
    const loaded = probe.prepared.group.filter((p: any) => p.loaded === probe.promptTokens.G - 1);
    expect(loaded).toHaveLength(3);
    // The first member evaluates what the saved system prompt lacks; the three others wait and load its state.
    expect(evaluated).toBe(probe.promptTokens.G - 1 - probe.prepared.group[0].loaded);
    for (const distance of probe.distance.group) {
      expect(distance).toBeLessThan(SAME);
    }
    expect(probe.cache.waits).toBe(3);
  });
});
