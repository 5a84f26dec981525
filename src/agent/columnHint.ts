/**
 * After a step fails on a column name (a KeyError, or an AttributeError on a
 * DataFrame), the observation adds the real columns of the DataFrames in the
 * kernel, read silently through the runner: a small model that guessed
 * `amount` then sees `units` and `unit_price` instead of guessing again.
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

/** The hint for a failed step, read from the kernel; '' when it does not apply or cannot be read. */
export async function columnHint(runner: CodeRunner, error: { ename: string; evalue: string } | null): Promise<string> {
  if (!error || !isColumnError(error) || !runner.inspect) {
    return '';
  }
  const text = await runner.inspect(COLUMNS_EXPRESSION).catch(() => null);
  try {
    const frames = text ? (JSON.parse(text) as Record<string, string[]>) : {};
    return formatColumnHint(frames);
  } catch {
    return '';
  }
}
