/**
 * Renders steps, observations and answers back to the exact tag text the model
 * is trained on, from the turn shapes in turnText.ts. `parseDatarus(formatStep(s))`
 * gives `s` back (with its thought trimmed and its code normalised), which the
 * property tests check.
 */
import { fillShape, stepShape, TURN_SHAPES } from './turnText';
import { ParsedAnswer } from './types';

export interface StepInput {
  thought: string;
  code: string;
  action?: string;
}

export function formatStep(step: StepInput): string {
  return fillShape(stepShape(step.action), [step.thought, step.code]);
}

/** The harness's observation; only the harness ever writes one. */
export function formatObservation(text: string): string {
  return `<observation>\n${text}\n</observation>`;
}

export function formatAnswer(answer: ParsedAnswer): string {
  return fillShape(TURN_SHAPES['<stop_analysis>'], [answer.thought, answer.text]);
}
