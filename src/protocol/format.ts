/**
 * Renders steps, observations and answers back to the exact tag text the model
 * is trained on, from the turn shapes in turnText.ts. `parseDatarus(formatStep(s))`
 * gives `s` back (with its thought trimmed and its code normalised), which the
 * property tests check.
 */
import { fillShape, stepShape, TURN_SHAPES } from './turnText';
import { escapeProtocol } from './escape';
import { ParsedAnswer } from './types';

export interface StepInput {
  thought: string;
  code: string;
  action?: string;
}

export function formatStep(step: StepInput): string {
  return fillShape(stepShape(step.action), [step.thought, step.code]);
}

/**
 * Who wrote an observation's text: the kernel (what the code printed: data) or
 * the harness itself (a step it did not run, in words the model may act on).
 */
export type ObservationSource = 'kernel' | 'harness';

/** An observation's text as the model reads it: the kernel's escaped (src/protocol/escape.ts), the harness's as written. */
export function observationText(text: string, source: ObservationSource = 'kernel'): string {
  return source === 'kernel' ? escapeProtocol(text) : text;
}

/**
 * The harness's observation; only the harness ever writes one. What the kernel
 * printed is escaped, so it cannot close the block or open a step; the parser
 * reads it back unescaped.
 */
export function formatObservation(text: string, source: ObservationSource = 'kernel'): string {
  return `<observation>\n${observationText(text, source)}\n</observation>`;
}

export function formatAnswer(answer: ParsedAnswer): string {
  return fillShape(TURN_SHAPES['<stop_analysis>'], [answer.thought, answer.text]);
}
