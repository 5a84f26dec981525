import fc from 'fast-check';

import { curriculumReward, curriculumWeight, DEFAULT_CURRICULUM } from '../../src/protocol';

const weight = fc.double({ min: 0, max: 1, noNaN: true });
const curriculum = fc.record({ w0: weight, w1: weight });

describe('the cosine curriculum', () => {
  it('starts at w0 and ends at w1', () => {
    fc.assert(
      fc.property(curriculum, c => {
        expect(curriculumWeight(0, c)).toBeCloseTo(c.w0, 12);
        expect(curriculumWeight(1, c)).toBeCloseTo(c.w1, 12);
      })
    );
  });

  it('moves monotonically from w0 to w1 and stays between them', () => {
    fc.assert(
      fc.property(curriculum, weight, weight, (c, a, b) => {
        const [early, late] = a <= b ? [a, b] : [b, a];
        const [we, wl] = [curriculumWeight(early, c), curriculumWeight(late, c)];
        if (c.w1 >= c.w0) {
          expect(wl).toBeGreaterThanOrEqual(we - 1e-12);
        } else {
          expect(wl).toBeLessThanOrEqual(we + 1e-12);
        }
        expect(we).toBeGreaterThanOrEqual(Math.min(c.w0, c.w1) - 1e-12);
        expect(we).toBeLessThanOrEqual(Math.max(c.w0, c.w1) + 1e-12);
      })
    );
  });

  it('is a half cosine: halfway at half the training, flat at both ends', () => {
    expect(curriculumWeight(0.5, { w0: 0, w1: 1 })).toBeCloseTo(0.5, 12);
    expect(curriculumWeight(0.25, { w0: 0, w1: 1 })).toBeCloseTo((1 - Math.SQRT1_2) / 2, 12);
    expect(curriculumWeight(0.01, { w0: 0, w1: 1 })).toBeLessThan(0.001);
  });

  it('clamps progress outside [0, 1] and refuses what is not a weight', () => {
    expect(curriculumWeight(-3, { w0: 0.1, w1: 0.9 })).toBeCloseTo(0.1, 12);
    expect(curriculumWeight(7, { w0: 0.1, w1: 0.9 })).toBeCloseTo(0.9, 12);
    expect(() => curriculumWeight(NaN)).toThrow(/progress must be a finite number/);
    expect(() => curriculumWeight(0.5, { w0: -0.1, w1: 1 })).toThrow(/w0 must be a number between 0 and 1/);
    expect(() => curriculumWeight(0.5, { w0: 0, w1: 2 })).toThrow(/w1 must be/);
  });

  it('mixes the two rewards by the weight of the step, with every mix between them', () => {
    expect(curriculumReward(1, 0, 0, { w0: 0, w1: 1 })).toBe(1);
    expect(curriculumReward(1, 0, 1, { w0: 0, w1: 1 })).toBe(0);
    expect(curriculumReward(0.4, 0.8, 0, DEFAULT_CURRICULUM)).toBeCloseTo(0.8 * 0.4 + 0.2 * 0.8, 6);
    fc.assert(
      fc.property(weight, weight, weight, curriculum, (s, m, p, c) => {
        const r = curriculumReward(s, m, p, c);
        expect(r).toBeGreaterThanOrEqual(Math.min(s, m) - 1e-6);
        expect(r).toBeLessThanOrEqual(Math.max(s, m) + 1e-6);
      })
    );
    expect(() => curriculumReward(1.5, 0, 0)).toThrow(/structural reward must be/);
    expect(() => curriculumReward(0, NaN, 0)).toThrow(/semantic reward must be/);
  });
});
