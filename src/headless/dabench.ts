/**
 * The InfiAgent-DABench task format and its closed-form scoring, as the
 * benchmark's own evaluation script (`eval_closed_form.py`) defines it:
 *
 * - answers are `@name[value]` in the response; when a name appears twice the
 *   last one counts (`dict(zip(names, values))`);
 * - a sub-answer is right when it equals the label as a string, or when both
 *   parse as numbers less than 1e-6 apart;
 * - accuracy by question: the share of questions with every sub-answer right;
 *   by sub-question: the share of all sub-answers right; proportional: the mean,
 *   over questions, of the share of that question's sub-answers right.
 *
 * One deliberate difference: the reference script leaves out questions whose
 * response is empty, so a run that fails on hard questions would score higher.
 * Here every labelled task that ran counts, and one without an answer scores 0.
 *
 * Pure: no I/O.
 */

export interface DabenchTask {
  id: string;
  question: string;
  constraints?: string;
  /** How the answer must be written, with `@name[…]` placeholders. */
  format?: string;
  /** The data file the question is about, relative to the data folder. */
  file_name?: string;
  level?: string;
  /** Every other field of the line, kept as it was. */
  [extra: string]: unknown;
}

/** The labelled answers of a task: `common_answers` as [[name, value], …]. */
export interface DabenchLabel {
  id: string;
  common_answers: [string, string][];
}

export class TaskFileError extends Error {
  name = 'TaskFileError';
}

/** Task ids are numbers in the benchmark's files, strings in others; they are compared as strings. */
function taskId(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return String(value);
  }
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

/** Each non-empty line of a JSONL text as an object, or an error naming the file and line. */
function jsonLines(text: string, file: string): { line: number; value: Record<string, unknown> }[] {
  const rows: { line: number; value: Record<string, unknown> }[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') {
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new TaskFileError(`${file} line ${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new TaskFileError(`${file} line ${i + 1}: expected a JSON object`);
    }
    rows.push({ line: i + 1, value: value as Record<string, unknown> });
  });
  return rows;
}

/** Parses a tasks file (DABench questions); every problem names its line. */
export function parseTasks(text: string, file = 'tasks file'): DabenchTask[] {
  const seen = new Map<string, number>();
  const tasks = jsonLines(text, file).map(({ line, value }) => {
    const id = taskId(value.id);
    if (id === null) {
      throw new TaskFileError(`${file} line ${line}: "id" must be a number or a non-empty string`);
    }
    if (seen.has(id)) {
      throw new TaskFileError(`${file} line ${line}: id ${id} was already used on line ${seen.get(id)}`);
    }
    seen.set(id, line);
    if (typeof value.question !== 'string' || value.question.trim() === '') {
      throw new TaskFileError(`${file} line ${line}: "question" must be a non-empty string`);
    }
    for (const field of ['constraints', 'format', 'file_name', 'level'] as const) {
      if (value[field] !== undefined && value[field] !== null && typeof value[field] !== 'string') {
        throw new TaskFileError(`${file} line ${line}: "${field}" must be a string`);
      }
    }
    return { ...value, id } as DabenchTask;
  });
  if (tasks.length === 0) {
    throw new TaskFileError(`${file}: no tasks`);
  }
  return tasks;
}

/** Parses a labels file; the values are kept as the strings they are (numbers are written back as JSON numbers would be). */
export function parseLabels(text: string, file = 'labels file'): Map<string, DabenchLabel> {
  const labels = new Map<string, DabenchLabel>();
  for (const { line, value } of jsonLines(text, file)) {
    const id = taskId(value.id);
    if (id === null) {
      throw new TaskFileError(`${file} line ${line}: "id" must be a number or a non-empty string`);
    }
    const answers = value.common_answers;
    const pairs = Array.isArray(answers) ? answers : null;
    if (!pairs || pairs.some(p => !Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || (typeof p[1] !== 'string' && typeof p[1] !== 'number'))) {
      throw new TaskFileError(`${file} line ${line}: "common_answers" must be a list of [name, value] pairs`);
    }
    labels.set(id, { id, common_answers: pairs.map(p => [p[0] as string, String(p[1])]) });
  }
  return labels;
}

/** The question as the model reads it: the question, its constraints, and the answer format it must use. */
export function taskPrompt(task: DabenchTask): string {
  const parts = [task.question.trim()];
  if (task.constraints?.trim()) {
    parts.push(`Constraints: ${task.constraints.trim()}`);
  }
  if (task.format?.trim()) {
    parts.push(`Write the final answer in exactly this format (each value in its @name[...] brackets): ${task.format.trim()}`);
  }
  return parts.join('\n\n');
}

const ANSWER = /@(\w+)\[(.*?)\]/g;

/** The `@name[value]` answers in a response; a name given twice keeps its last value, as the benchmark's script does. */
export function extractAnswers(response: string): Record<string, string> {
  const answers: Record<string, string> = {};
  for (const match of response.matchAll(ANSWER)) {
    answers[match[1]] = match[2];
  }
  return answers;
}

const DIGITS = '[0-9](?:_?[0-9])*';
const PY_FLOAT = new RegExp(`^[+-]?(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][+-]?${DIGITS})?$`);

/** Python's `float()` on a string: surrounding whitespace, underscores between digits, inf and nan. */
export function pythonFloat(text: string): number | null {
  const t = text.trim();
  if (/^[+-]?(inf|infinity|nan)$/i.test(t)) {
    const sign = t.startsWith('-') ? -1 : 1;
    return /nan/i.test(t) ? NaN : sign * Infinity;
  }
  return PY_FLOAT.test(t) ? Number(t.replace(/_/g, '')) : null;
}

/** The benchmark's `is_equal`: the same string, or numbers less than 1e-6 apart. */
export function answerEquals(response: string | undefined, label: string): boolean {
  if (response === undefined) {
    return false;
  }
  if (response === label) {
    return true;
  }
  const a = pythonFloat(response);
  const b = pythonFloat(label);
  return a !== null && b !== null && Math.abs(a - b) < 1e-6;
}

export interface TaskScore {
  predicted: Record<string, string>;
  /** Per labelled name: whether the response got it right. */
  correctness: Record<string, boolean>;
  /** Share of this task's sub-answers that are right. */
  fraction: number;
  /** Every sub-answer right. */
  correct: boolean;
}

/** Scores one response (null: the task gave no answer) against its label. */
export function scoreTask(response: string | null, label: DabenchLabel): TaskScore {
  const predicted = response ? extractAnswers(response) : {};
  const correctness: Record<string, boolean> = {};
  for (const [name, value] of label.common_answers) {
    correctness[name] = answerEquals(predicted[name], value);
  }
  const values = Object.values(correctness);
  const right = values.filter(Boolean).length;
  // As in the benchmark's script: a label with no sub-answers counts as right by question, 0 proportionally.
  return { predicted, correctness, fraction: values.length ? right / values.length : 0, correct: right === values.length };
}

export interface Accuracy {
  questions: number;
  byQuestion: number;
  bySubQuestion: number;
  proportional: number;
}

/** The benchmark's three accuracies over scored tasks (0 when there are none). */
export function accuracy(scores: TaskScore[]): Accuracy {
  const subTotal = scores.reduce((n, s) => n + Object.keys(s.correctness).length, 0);
  const subRight = scores.reduce((n, s) => n + Object.values(s.correctness).filter(Boolean).length, 0);
  return {
    questions: scores.length,
    byQuestion: scores.length ? scores.filter(s => s.correct).length / scores.length : 0,
    bySubQuestion: subTotal ? subRight / subTotal : 0,
    proportional: scores.length ? scores.reduce((n, s) => n + s.fraction, 0) / scores.length : 0
  };
}
