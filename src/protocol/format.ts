/**
 * Renders steps, observations and answers back to the exact tag text the model
 * is trained on. `parseDatarus(formatStep(s))` gives `s` back (with its thought
 * trimmed and its code normalised), which the property tests check.
 */
import { ParsedAnswer, ParsedStep, PYTHON_EXECUTOR } from './types';

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

/** A whole episode as one text: each step followed by its observation, then the answer. */
export function formatTranscript(steps: ParsedStep[], answer: ParsedAnswer | null): string {
  const parts: string[] = [];
  for (const step of steps) {
    parts.push(formatStep(step));
    if (step.observation !== undefined) {
      parts.push(formatObservation(step.observation));
    }
  }
  if (answer) {
    parts.push(formatAnswer(answer));
  }
  return parts.join('\n');
}

/** Reflection mode: compact chain of thought, then the answer. */
export function formatReflection(thinking: string, answer: string): string {
  return `<think>\n${thinking}\n</think>\n${answer}`;
}
