/**
 * `datarus score --batch`: the project's scorers for other processes (the
 * Python reward functions, `datarus_jupyterlab.rewards`), one JSON line in and
 * one JSON line out, answered as each line arrives so a caller can keep one
 * process for a whole training run.
 *
 * In: `{"text": …, "label_answers"?: {name: value} | [[name, value], …] | null,
 * "harness_observations"?: bool, "semantic"?: number | null, "progress"?: number,
 * "w0"?: number, "w1"?: number}`.
 *
 * Out: `{"structural", "parts", "violations", "answer", "answer_correct", "reward"}`:
 * the structural reward of the text (src/protocol/reward.ts), the share of the
 * labelled `@name[value]` answers its final answer gets right (null without a
 * label), and, when `progress` is given, the curriculum's mix of the structural
 * reward with the semantic one (`semantic`, else the answer match; null when
 * there is neither). A line that cannot be read answers `{"error": …}`, so the
 * answers stay in step with the questions.
 */
import * as readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';

import { curriculumReward, DEFAULT_CURRICULUM, parseDatarus, structuralReward } from '../protocol';
import { DabenchLabel, scoreTask } from '../headless/dabench';

function labelOf(value: unknown): DabenchLabel | null | string {
  if (value === undefined || value === null) {
    return null;
  }
  const pairs: [string, string][] = [];
  const entries = Array.isArray(value) ? value : typeof value === 'object' ? Object.entries(value as object) : null;
  if (!entries) {
    return '"label_answers" must be an object of name: value, or a list of [name, value] pairs';
  }
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') {
      return '"label_answers" must be an object of name: value, or a list of [name, value] pairs';
    }
    // A dataset that holds labels of different names fills the names a row lacks with null: they are not labels.
    if (entry[1] === null || entry[1] === undefined) {
      continue;
    }
    if (typeof entry[1] !== 'string' && typeof entry[1] !== 'number') {
      return `the label "${entry[0]}" must be a string or a number`;
    }
    pairs.push([entry[0], String(entry[1])]);
  }
  return pairs.length ? { id: '', common_answers: pairs } : null;
}

function optionalNumber(value: unknown, name: string): number | null | string {
  if (value === undefined || value === null) {
    return null;
  }
  return typeof value === 'number' && Number.isFinite(value) ? value : `"${name}" must be a number`;
}

/** The answer to one input line. */
export function scoreLine(line: string): object {
  let input: Record<string, unknown>;
  try {
    const value = JSON.parse(line);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { error: 'each line must be a JSON object' };
    }
    input = value;
  } catch (err) {
    return { error: `not valid JSON (${(err as Error).message})` };
  }
  if (typeof input.text !== 'string') {
    return { error: '"text" must be a string' };
  }
  const label = labelOf(input.label_answers);
  if (typeof label === 'string') {
    return { error: label };
  }
  const numbers: Record<string, number | null> = {};
  for (const name of ['semantic', 'progress', 'w0', 'w1']) {
    const n = optionalNumber(input[name], name);
    if (typeof n === 'string') {
      return { error: n };
    }
    numbers[name] = n;
  }
  const parsed = parseDatarus(input.text, { harnessObservations: input.harness_observations === true });
  const structural = structuralReward(parsed);
  const answer = label ? scoreTask(parsed.answer?.text ?? null, label) : null;
  let reward: number | null = null;
  if (numbers.progress !== null) {
    const semantic = numbers.semantic ?? answer?.fraction ?? null;
    if (semantic !== null) {
      try {
        reward = curriculumReward(structural.score, semantic, numbers.progress, { w0: numbers.w0 ?? DEFAULT_CURRICULUM.w0, w1: numbers.w1 ?? DEFAULT_CURRICULUM.w1 });
      } catch (err) {
        return { error: (err as Error).message };
      }
    }
  }
  return {
    structural: structural.score,
    parts: structural.parts,
    violations: parsed.violations.map(v => v.kind),
    answer: answer ? answer.fraction : null,
    answer_correct: answer ? answer.correct : null,
    reward
  };
}

/** Answers every line of `input` on `output`, each as soon as it is read; blank lines are skipped. */
export async function scoreBatch(input: Readable, output: Writable): Promise<number> {
  let lines = 0;
  const reader = readline.createInterface({ input, crlfDelay: Infinity });
  for await (const line of reader) {
    if (line.trim() === '') {
      continue;
    }
    output.write(JSON.stringify(scoreLine(line)) + '\n');
    lines++;
  }
  return lines;
}
