/**
 * After a step fails on a column name (a KeyError, or an AttributeError on a
 * DataFrame), the observation adds the real columns of the DataFrames in the
 * kernel, read silently through the runner: a small model that guessed
 * `amount` then sees `units` and `unit_price` instead of guessing again.
 * When the name it used differs from a real one only in spaces, case or
 * separators (`'WINDSPEED'` for the header's `' WINDSPEED'`), the hint says so
 * outright: the starter read past the leading space in the list of columns and
 * wrote the same name again (11 of 177 DABench dev tasks failed that way).
 * Works with any runner that can inspect (notebook or Node kernel).
 */
import { asJsonRepr } from './inspect';
import { cleanLine, pyRepr } from './untrusted';
import type { CodeRunner } from './types';

/** At most this many frames and columns a frame are named, so the hint stays short. */
const MAX_FRAMES = 8;
const MAX_COLUMNS = 60;
const MAX_HINT = 1500;

/** Python: JSON of {frame name: [column names]} for the DataFrames in the kernel's globals. */
export const COLUMNS_EXPRESSION = asJsonRepr(
  "__import__('json').dumps(dict(list({k: [str(c)[:200] for c in list(v.columns)[:" +
    MAX_COLUMNS +
    "]] for k, v in list(globals().items()) if not k.startswith('_') and type(v).__name__ == 'DataFrame'}.items())[:" +
    MAX_FRAMES +
    ']))'
);

/** Whether an error looks like a wrong column name. */
export function isColumnError(error: { ename: string; evalue: string }): boolean {
  return error.ename === 'KeyError' || (error.ename === 'AttributeError' && /'(DataFrame|Series|DataFrameGroupBy|SeriesGroupBy)' object has no attribute/.test(error.evalue));
}

/** The hint line for these frames, or '' when there are none. */
export function formatColumnHint(frames: Record<string, string[]>): string {
  const names = Object.entries(frames);
  if (names.length === 0) {
    return '';
  }
  // Column names are data (a header can hold anything): quoted as Python writes them.
  const text = names.map(([name, columns]) => `${cleanLine(String(name), 80)}: ${(Array.isArray(columns) ? columns : []).map(c => pyRepr(String(c))).join(', ')}`).join('; ');
  const line = `[columns of the DataFrames in the kernel: ${text}]`;
  return line.length > MAX_HINT ? `${line.slice(0, MAX_HINT - 2)}…]` : line;
}

/** A name the step used and the real column it stands for. */
export interface ColumnMatch {
  /** The name as the code wrote it. */
  used: string;
  /** The column as the frame spells it. */
  actual: string;
  /** The two differ only in spaces around the name (a header written `a, b, c`). */
  spacesOnly: boolean;
  /** The variable of the DataFrame that has the column. */
  frame: string;
}

/** A name with case, spaces, underscores, dots, dashes and a byte-order mark left out. */
const bare = (name: string) => name.replace(/[\s_.\-\ufeff]+/g, '').toLowerCase();

/**
 * The names an error says are missing: the quoted strings of `'WINDSPEED'` or
 * `"['a', 'b'] not in index"`, and the name after a groupby's
 * `'Column not found: X'`.
 */
function missingNames(evalue: string): string[] {
  const single = [...evalue.matchAll(/'([^'\n]{1,200})'/g)].map(m => m[1]);
  const double = [...evalue.matchAll(/"([^"'\n]{1,200})"/g)].map(m => m[1]);
  const notFound = single.map(n => /^Column not found: (.+)$/.exec(n)?.[1]).filter((n): n is string => n !== undefined);
  return [...notFound, ...single, ...double].filter(n => n !== 'object');
}

/**
 * The real column a missing name stands for: the only column of the kernel's
 * frames equal to it up to case, spaces and separators; null when there is
 * none or more than one.
 */
export function columnMatch(frames: Record<string, string[]>, error: { ename: string; evalue: string } | null): ColumnMatch | null {
  if (!error || !isColumnError(error)) {
    return null;
  }
  const owners = new Map<string, string>();
  for (const [frame, columns] of Object.entries(frames)) {
    for (const column of Array.isArray(columns) ? columns.map(String) : []) {
      if (!owners.has(column)) {
        owners.set(column, frame);
      }
    }
  }
  for (const used of missingNames(error.evalue)) {
    if (owners.has(used) || !bare(used)) {
      continue;
    }
    const key = bare(used);
    const like = [...owners.keys()].filter(c => bare(c) === key);
    if (like.length === 1) {
      const frame = owners.get(like[0])!;
      return { used, actual: like[0], spacesOnly: like[0].replace(/^\ufeff/, '').trim() === used, frame: /^[A-Za-z_]\w{0,40}$/.test(frame) ? frame : 'df' };
    }
  }
  return null;
}

/** The line that strips the spaces around every column name of a frame. */
export const stripColumnNames = (frame: string) => `${frame}.columns = ${frame}.columns.str.strip()`;

/** The line that gives a frame's column the name the code used (`df = df.rename(columns={'.SPX': 'SPX'})`). */
export const renameColumn = (match: ColumnMatch) => `${match.frame} = ${match.frame}.rename(columns={${pyRepr(match.actual)}: ${pyRepr(match.used)}})`;

/**
 * What to write instead: strip the header's spaces once, or rename the column
 * to the name the code used. Either way the data comes to match the code: told
 * to write `'.SPX'` for `'SPX'`, the starter wrote `df['SPX']` again for 10 steps.
 */
function columnInstruction(match: ColumnMatch): string {
  return match.spacesOnly
    ? `strip the spaces from every column name right after reading the file, with ${stripColumnNames(match.frame)}`
    : `rename the column ${pyRepr(match.actual)} to ${pyRepr(match.used)} right after reading the file, with ${renameColumn(match)}`;
}

/** The same, as the model's own thought goes on from it in the turn after the error. */
export function columnFix(match: ColumnMatch): string {
  return `${columnInstruction(match)}, and then`;
}

/** The observation's line for a match. */
export function columnMatchNote(match: ColumnMatch): string {
  return `[there is no column ${pyRepr(match.used)}; the data spells it ${pyRepr(match.actual)}. To use it, ${columnInstruction(match)}.]`;
}

/** The DataFrames' columns in the kernel when a step failed on a column name; null when that does not apply or they cannot be read. */
export async function kernelColumns(runner: CodeRunner, error: { ename: string; evalue: string } | null): Promise<Record<string, string[]> | null> {
  if (!error || !isColumnError(error) || !runner.inspect) {
    return null;
  }
  const text = await runner.inspect(COLUMNS_EXPRESSION).catch(() => null);
  try {
    const frames: unknown = text ? JSON.parse(text) : {};
    return frames && typeof frames === 'object' && !Array.isArray(frames) ? (frames as Record<string, string[]>) : {};
  } catch {
    return null;
  }
}
