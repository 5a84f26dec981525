/**
 * The tag-based structural reward: how well a text follows the Datarus
 * protocol, as a score in [0, 1]. It is the structural half of the dual reward
 * in the Datarus paper (the other half judges the analysis itself).
 *
 * Rules (each part is in [0, 1]; the score is their weighted sum, weights sum to 1):
 *
 * | part                       | weight | 1 when                                     | otherwise                                  |
 * |----------------------------|--------|--------------------------------------------|--------------------------------------------|
 * | `well_formed`              | 0.25   | every tag opens and closes in order, lower case, nothing truncated | 1 − 0.25 per defect, floored at 0 |
 * | `one_action_per_step`      | 0.15   | each step has one action, `python_executor` | share of steps that do                   |
 * | `code_present`             | 0.20   | each step carries non-empty code           | share of steps that do                     |
 * | `final_answer`             | 0.20   | a `<stop_analysis>` with a non-empty answer | 0                                          |
 * | `no_fabricated_observation`| 0.10   | the model wrote no `<observation>`         | 0                                          |
 * | `no_text_outside_tags`     | 0.10   | no text outside tags, nothing after the answer | 0                                      |
 *
 * A text with no structure at all (no step and no answer) scores 0 whatever
 * the parts say. Code fences and a missing `<action>` are tolerated by the
 * parser and cost nothing here: the harness can still run the step.
 */
import { parseDatarus } from './parser';
import { ParseResult, ParserOptions, ViolationKind } from './types';

export interface RewardParts {
  well_formed: number;
  one_action_per_step: number;
  code_present: number;
  final_answer: number;
  no_fabricated_observation: number;
  no_text_outside_tags: number;
}

export interface StructuralReward {
  score: number;
  parts: RewardParts;
}

export const REWARD_WEIGHTS: Readonly<RewardParts> = Object.freeze({
  well_formed: 0.25,
  one_action_per_step: 0.15,
  code_present: 0.2,
  final_answer: 0.2,
  no_fabricated_observation: 0.1,
  no_text_outside_tags: 0.1
});

const TAG_DEFECTS: ReadonlySet<ViolationKind> = new Set<ViolationKind>([
  'missing_open_tag',
  'unclosed_tag',
  'stray_close_tag',
  'tag_case',
  'truncated'
]);

/** Scores a parse result. */
export function structuralReward(result: ParseResult): StructuralReward {
  const count = (kinds: ViolationKind[]) => result.violations.filter(v => kinds.includes(v.kind)).length;
  const steps = result.steps.length;
  const tagDefects = result.violations.filter(v => TAG_DEFECTS.has(v.kind)).length;
  const badActions = Math.min(steps, count(['multiple_actions', 'unknown_action']));
  const withCode = result.steps.filter(s => s.code.trim() !== '').length;

  const parts: RewardParts = {
    well_formed: Math.max(0, 1 - 0.25 * tagDefects),
    one_action_per_step: steps === 0 ? 1 : (steps - badActions) / steps,
    code_present: steps === 0 ? 1 : withCode / steps,
    final_answer: result.answer && result.answer.text.trim() !== '' ? 1 : 0,
    no_fabricated_observation: count(['fabricated_observation']) === 0 ? 1 : 0,
    no_text_outside_tags: count(['text_outside_tags', 'content_after_answer']) === 0 ? 1 : 0
  };
  if (count(['no_structure']) > 0) {
    return { score: 0, parts };
  }
  let score = 0;
  for (const key of Object.keys(REWARD_WEIGHTS) as (keyof RewardParts)[]) {
    score += REWARD_WEIGHTS[key] * parts[key];
  }
  return { score: Math.round(score * 1e6) / 1e6, parts };
}

/** Parses and scores a text in one call. */
export function scoreText(text: string, options?: ParserOptions): StructuralReward {
  return structuralReward(parseDatarus(text, options));
}
