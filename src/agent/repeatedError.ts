/**
 * A step that fails the way the previous one did. A small model that meets the
 * same error twice tends to write the same fix a third time and never print
 * anything; saying plainly that it is the same error, on which line, and that
 * a different approach is needed (look at the data first) gets it out of the
 * rut more often than the traceback alone. Pure: no DOM, no Node.
 */
import { stripAnsi } from './observation';
import type { NbOutput } from './types';
import { cleanLine } from './untrusted';

/** Longest failing line quoted in a note. */
const MAX_LINE = 160;

export interface StepFailure {
  ename: string;
  evalue: string;
}

/** Whether two failures are the same error (name and message). */
export function sameFailure(a: StepFailure | null | undefined, b: StepFailure | null | undefined): boolean {
  return !!a && !!b && a.ename === b.ename && a.evalue === b.evalue;
}

/**
 * The line of the cell's own code that raised the error, as the traceback
 * points at it (`----> 3 df['x']`, or `Cell In[4], line 3` for a syntax error,
 * read from `code`); null when the traceback does not say.
 */
export function failingLine(outputs: NbOutput[] | undefined, code: string): string | null {
  const error = (outputs ?? []).find(o => o.output_type === 'error');
  if (!error) {
    return null;
  }
  const text = stripAnsi((error.traceback ?? []).join('\n'));
  // The cell's own frame comes first; library frames after it have arrows of their own.
  const header = /(?:Cell In\s*\[\d*\],\s*line\s*(\d+)|ipython-input-[^\n]*)/.exec(text);
  // Only the cell's frame: from its header to the next frame's.
  let frame = text;
  if (header) {
    const rest = text.slice(header.index);
    const body = rest.includes('\n') ? rest.slice(rest.indexOf('\n') + 1) : '';
    const end = body.search(/^(?:File |Cell In|.*ipython-input)/m);
    frame = end < 0 ? body : body.slice(0, end);
  }
  const arrow = /^\s*-+>\s*\d+\s(.*)$/m.exec(frame);
  if (arrow && arrow[1].trim()) {
    return cleanLine(arrow[1].trim(), MAX_LINE);
  }
  const number = header?.[1] ? Number(header[1]) : NaN;
  const line = Number.isInteger(number) ? code.split('\n')[number - 1]?.trim() : undefined;
  return line ? cleanLine(line, MAX_LINE) : null;
}

/** What to try instead: see what the data holds before computing with it. */
export const DIFFERENT_APPROACH =
  'Do not write the same fix again: take a different approach. If you are not sure what the data holds, ' +
  'first print it, e.g. print(df.columns.tolist()) and print(df.head()), then compute from what you see.';

/** The note added to an observation whose error is the same as the previous step's. */
export function repeatedErrorNote(failure: StepFailure, line: string | null): string {
  const where = line ? ` The line that failed: ${cleanLine(line, MAX_LINE)}` : '';
  return `[the same error as the previous step again: ${cleanLine(failure.ename, 80)}: ${cleanLine(failure.evalue, 200)}.${where}\n${DIFFERENT_APPROACH}]`;
}

/**
 * The start of the turn after a failing step, written for the model (where the
 * model side continues a turn): the starter copied its whole turn, thought
 * first, word for word, whatever the observation asked and at temperature 0.8
 * too. Made to begin from the error, its thought went on with the change to
 * make, and its code changed more often. `again`: the turn before began with
 * this start and still copied the failing code. `fix`: the change to make,
 * when the loop knows it (a misspelt column, columnHint.ts); the model goes on
 * from it.
 */
export function stuckTurnStart(failure: StepFailure, line: string | null, again = false, fix?: string): string {
  const where = line ? `The line ${cleanLine(line, MAX_LINE)} raised` : 'The code raised';
  const error = `${cleanLine(failure.ename, 80)}: ${cleanLine(failure.evalue, 120)}`;
  // After a started turn was copied too: a look at the data instead of another fix from memory.
  return again
    ? `<step>\n<thought>${where} ${error}, and the same code would raise it again. So this time I first print`
    : `<step>\n<thought>${where} ${error}. So instead I will${fix ? ` ${fix}` : ''}`;
}

/**
 * The observation of a step that repeats the failing code once more after it
 * was already not run: the loop's last chance for a different step before it
 * asks for the answer.
 */
export function lastChanceObservation(times: number, failure: StepFailure | null, line: string | null): string {
  const error = failure ? ` It raised ${cleanLine(failure.ename, 80)}: ${cleanLine(failure.evalue, 200)}` : '';
  const where = failure && line ? ` at: ${cleanLine(line, MAX_LINE)}` : '';
  return `[not run: you have written this same code ${times} times.${error}${where}. This is the last step you get to try something else. ${DIFFERENT_APPROACH}]`;
}
