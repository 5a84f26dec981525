/**
 * Renders steps, observations and answers back to the exact tag text the model
 * is trained on. `parseDatarus(formatStep(s))` gives `s` back (with its thought
 * trimmed and its code normalised), which the property tests check.
 */
import { ParsedAnswer, PYTHON_EXECUTOR } from './types';

export interface StepInput {
  thought: string;
  code: string;
  action?: string;
}

export function formatStep(step: StepInput): string {
  return (
    '<step>\n' +
    `<thought>${step.thought}</thought>\n` +
    `<action>${step.action ?? PYTHON_EXECUTOR}</action>\n` +
    `<action_input>\n${step.code}\n</action_input>\n` +
    '</step>'
  );
}

/** The harness's observation; only the harness ever writes one. */
export function formatObservation(text: string): string {
  return `<observation>\n${text}\n</observation>`;
}

export function formatAnswer(answer: ParsedAnswer): string {
  return (
    '<stop_analysis>\n' +
    `<thought>${answer.thought}</thought>\n` +
    `<answer>${answer.text}</answer>\n` +
    '</stop_analysis>'
  );
}
