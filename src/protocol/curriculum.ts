/**
 * The curriculum of the dual reward: `reward = (1 − w)·structural + w·semantic`,
 * with the semantic weight `w` moving from `w0` to `w1` along a half cosine of
 * training progress, so training first learns the protocol's structure and then
 * shifts towards what the analysis says (the Datarus paper's schedule). The
 * structural part is src/protocol/reward.ts; the semantic part is what the
 * caller has: the answer match with labels, or the judge's scores.
 *
 * Pure: the trainer calls it with its own progress (step ÷ total steps).
 */

export interface Curriculum {
  /** Semantic weight at the start of training (progress 0), in [0, 1]. */
  w0: number;
  /** Semantic weight at the end of training (progress 1), in [0, 1]. */
  w1: number;
}

export const DEFAULT_CURRICULUM: Readonly<Curriculum> = Object.freeze({ w0: 0.2, w1: 0.8 });

function checkCurriculum({ w0, w1 }: Curriculum): void {
  for (const [name, value] of [
    ['w0', w0],
    ['w1', w1]
  ] as const) {
    if (!(Number.isFinite(value) && value >= 0 && value <= 1)) {
      throw new RangeError(`the curriculum's ${name} must be a number between 0 and 1 (got ${value})`);
    }
  }
}

/**
 * The semantic weight at `progress` (the share of training done; clamped to
 * [0, 1]): `w0 + (w1 − w0)·(1 − cos(π·progress))/2`. Equal to `w0` at 0 and to
 * `w1` at 1, monotonic in between, flat at both ends.
 */
export function curriculumWeight(progress: number, curriculum: Curriculum = DEFAULT_CURRICULUM): number {
  checkCurriculum(curriculum);
  if (!Number.isFinite(progress)) {
    throw new RangeError(`training progress must be a finite number (got ${progress})`);
  }
  const p = Math.min(1, Math.max(0, progress));
  const { w0, w1 } = curriculum;
  return w0 + ((w1 - w0) * (1 - Math.cos(Math.PI * p))) / 2;
}

/** `(1 − w)·structural + w·semantic` with `w = curriculumWeight(progress)`; both parts in [0, 1]. */
export function curriculumReward(structural: number, semantic: number, progress: number, curriculum: Curriculum = DEFAULT_CURRICULUM): number {
  for (const [name, value] of [
    ['structural', structural],
    ['semantic', semantic]
  ] as const) {
    if (!(Number.isFinite(value) && value >= 0 && value <= 1)) {
      throw new RangeError(`the ${name} reward must be a number between 0 and 1 (got ${value})`);
    }
  }
  const w = curriculumWeight(progress, curriculum);
  return Math.round(((1 - w) * structural + w * semantic) * 1e6) / 1e6;
}
