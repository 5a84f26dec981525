/**
 * Calls the installed data stack no longer has (or whose defaults it changed),
 * which models trained on older code keep writing. The starter wrote
 * `mean_squared_error(…, squared=False)` for an RMSE; scikit-learn 1.6 removed
 * `squared`, the TypeError does not say what replaced it, and the model dropped
 * the argument and answered with the MSE; pandas 3's text columns broke its
 * `groupby().mean()` four times in a row. After a step fails on one of these,
 * the observation says what to write instead (profiles with `errorRecovery`);
 * the few with a replacement that means the same on every version are
 * rewritten before the step runs (`rewriteRemovedCalls`). Where the library's
 * own message already names the replacement (numpy's removed aliases), nothing
 * is added.
 * Pure: no DOM, no Node.
 */
import type { CodeRewrite } from '../episode/types';
import { pythonTextMask } from './pythonText';
import type { StepFailure } from './repeatedError';

interface ApiChange {
  ename: string;
  /** Matched against the error's message. */
  evalue: RegExp;
  hint: string;
}

/** How to read numbers written as text with other characters in them (commas, ranges in brackets, units). */
const NUMBERS_IN_TEXT =
  "numbers written as text with other characters (commas, brackets, units) convert with " +
  "pd.to_numeric(df[col].str.replace(',', '').str.extract(r'(-?\\d+\\.?\\d*)')[0], errors='coerce'), then skip the NaN it leaves.";

export const API_CHANGES: readonly ApiChange[] = [
  {
    ename: 'TypeError',
    evalue: /unexpected keyword argument 'squared'/,
    hint:
      'scikit-learn 1.6 removed squared= from mean_squared_error. The RMSE is sklearn.metrics.root_mean_squared_error(y_true, y_pred), ' +
      'or np.sqrt(mean_squared_error(y_true, y_pred)); mean_squared_error alone is the MSE, not the RMSE.'
  },
  {
    ename: 'TypeError',
    evalue: /OneHotEncoder.*unexpected keyword argument 'sparse'/,
    hint: "scikit-learn 1.4 renamed OneHotEncoder's sparse= to sparse_output=."
  },
  {
    ename: 'AttributeError',
    evalue: /'(DataFrame|Series)' object has no attribute 'append'/,
    hint: 'pandas 2.0 removed DataFrame.append and Series.append: use pd.concat([first, second], ignore_index=True).'
  },
  {
    ename: 'AttributeError',
    evalue: /'(DataFrame|Series)' object has no attribute 'iteritems'/,
    hint: 'pandas 2.0 removed iteritems(): use items().'
  },
  {
    ename: 'AttributeError',
    evalue: /'(DataFrame|Series)' object has no attribute 'mad'/,
    hint: 'pandas 2.0 removed mad(): the mean absolute deviation is (s - s.mean()).abs().mean().'
  },
  {
    // pandas 3 reads text as dtype str (no longer object), and a mean, sum or
    // groupby over a frame with one text column now fails on that column.
    ename: 'TypeError',
    evalue: /dtype 'str' does not support operation|Cannot perform reduction '\w+' with string dtype/,
    hint:
      'pandas 3 stores text columns as dtype str, and numeric operations on them fail. Select the numeric columns ' +
      "(df.select_dtypes('number'), numeric_only=True, or df.groupby(key)[['col']].mean()); numbers written as text " +
      "(commas, brackets, units) convert with pd.to_numeric(df[col].str.replace(',', '').str.extract(r'(-?\\d+\\.?\\d*)')[0], errors='coerce')."
  },
  {
    // Written after the note above by a model that mixed its two remedies (DABench 59 and 665, each three times).
    ename: 'TypeError',
    evalue: /select_dtypes\(\) got an unexpected keyword argument/,
    hint: "select_dtypes takes the kinds to keep, df.select_dtypes('number') or include=['number']; numeric_only=True belongs to mean(), sum(), corr() and groupby(...).mean()."
  },
  {
    // pandas 2.0 made numeric_only=False the default of DataFrame.corr/cov.
    ename: 'ValueError',
    evalue: /could not convert string to float/,
    hint:
      "a text value reached a numeric operation. pandas 2.0 made numeric_only=False the default of DataFrame.corr() and cov(): pass numeric_only=True or select the columns; " +
      "numbers written as text convert with pd.to_numeric(df[col].str.replace(',', ''), errors='coerce'); a model's features need text columns encoded (pd.get_dummies)."
  },
  {
    // pandas 3 text columns are Arrow strings: astype(int) or astype('Int64') of '1,000' fails in pyarrow.
    ename: 'ArrowInvalid',
    evalue: /Failed to parse string/,
    hint: `a text column cannot be cast to a number while some values are not plain numbers; ${NUMBERS_IN_TEXT}`
  },
  {
    ename: 'ValueError',
    evalue: /Unable to parse string|invalid literal for int\(\) with base 10/,
    hint: `some values of the column are not plain numbers; ${NUMBERS_IN_TEXT}`
  },
  {
    ename: 'OSError',
    evalue: /'seaborn[^']*' is not a valid package style/,
    hint: "matplotlib 3.6 renamed the 'seaborn' styles to 'seaborn-v0_8' (e.g. plt.style.use('seaborn-v0_8')); or import seaborn and call sns.set_theme()."
  }
];

/** The note for a failure caused by one of these changes, or '' when it is not one. */
export function apiChangeHint(failure: StepFailure | null): string {
  if (!failure) {
    return '';
  }
  const change = API_CHANGES.find(c => c.ename === failure.ename && c.evalue.test(failure.evalue));
  return change ? `[changed in the installed libraries: ${change.hint}]` : '';
}

/** The index of the `)` that closes the `(` at `open`, outside strings and comments; -1 when there is none. */
function closingParen(code: string, open: number, mask: boolean[]): number {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (mask[i]) {
      continue;
    }
    if ('([{'.includes(code[i])) {
      depth++;
    } else if (')]}'.includes(code[i]) && --depth === 0) {
      return i;
    }
  }
  return -1;
}

/** A call's arguments split at its top-level commas (`open` is the index of its `(`). */
function callArguments(code: string, open: number, close: number, mask: boolean[]): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open + 1; i < close; i++) {
    if (mask[i]) {
      continue;
    }
    if ('([{'.includes(code[i])) {
      depth++;
    } else if (')]}'.includes(code[i])) {
      depth--;
    } else if (code[i] === ',' && depth === 0) {
      args.push(code.slice(start, i));
      start = i + 1;
    }
  }
  args.push(code.slice(start, close));
  return args.map(a => a.trim()).filter(a => a !== '');
}

const RMSE_WHY = 'scikit-learn 1.6 removed squared= from mean_squared_error; the square root of the MSE is the RMSE in every version';

/**
 * Removed calls whose meaning is plain and whose replacement runs on old and new
 * versions alike, rewritten before the step runs: `mean_squared_error(y, p,
 * squared=False)` (the starter's RMSE, every time) becomes
 * `(mean_squared_error(y, p) ** 0.5)`, `.iteritems()` becomes `.items()`, and
 * `df['a'].fillna(v, inplace=True)` becomes `df['a'] = df['a'].fillna(v)`. The
 * step records each rewrite, as it does the `%pip` ones (kernelInstalls.ts).
 * Calls inside strings and comments are left alone; so are changes whose fix
 * depends on the installed version (`sparse_output=`), which get a note instead.
 */
export function rewriteRemovedCalls(code: string): { code: string; rewrites: CodeRewrite[] } {
  const rewrites: CodeRewrite[] = [];
  let out = code;
  const calls = [...code.matchAll(/\b((?:[A-Za-z_]\w*\.)*mean_squared(?:_log)?_error)\s*\(/g)];
  const mask = pythonTextMask(code);
  // From the last call back, so the indices of the earlier ones still hold.
  for (const call of calls.reverse()) {
    const start = call.index!;
    const open = start + call[0].length - 1;
    if (mask[start]) {
      continue;
    }
    const close = closingParen(code, open, mask);
    if (close === -1) {
      continue;
    }
    const args = callArguments(code, open, close, mask);
    const squared = args.findIndex(a => /^squared\s*=\s*(True|False)$/.test(a));
    if (squared === -1) {
      continue;
    }
    const root = args[squared].endsWith('False');
    const plain = `${call[1]}(${args.filter((_, i) => i !== squared).join(', ')})`;
    const to = root ? `(${plain} ** 0.5)` : plain;
    const from = code.slice(start, close + 1);
    out = out.slice(0, start) + to + out.slice(close + 1);
    rewrites.unshift({ from, to, why: RMSE_WHY });
  }
  out = rewriteChainedInplace(out, rewrites);
  const inText = pythonTextMask(out);
  const iteritems = new Set([...out.matchAll(/\.iteritems\(\)/g)].map(m => m.index!).filter(i => !inText[i]));
  if (iteritems.size > 0) {
    out = out.replace(/\.iteritems\(\)/g, (text, index: number) => (iteritems.has(index) ? '.items()' : text));
    rewrites.push({ from: '.iteritems()', to: '.items()', why: 'pandas 2.0 removed iteritems(); items() does the same in every version' });
  }
  return { code: out, rewrites };
}

const CHAINED_INPLACE_WHY =
  "pandas 3 (Copy-on-Write): an inplace method on a column, df['a'].fillna(v, inplace=True), never changes df; " +
  'assigning the result back does what the code meant, on every version';

/** For each index of `code`, how many brackets outside strings and comments are open before it. */
function bracketDepths(code: string, mask: boolean[]): number[] {
  const depths = [0];
  for (let i = 0; i < code.length; i++) {
    const opens = !mask[i] && '([{'.includes(code[i]) ? 1 : 0;
    const closes = !mask[i] && ')]}'.includes(code[i]) ? 1 : 0;
    depths.push(depths[i] + opens - closes);
  }
  return depths;
}

/** Whether the line at `lineStart` begins a statement: not inside brackets, not after a line ending in a backslash. */
function startsStatement(code: string, lineStart: number, depths: number[]): boolean {
  return depths[lineStart] <= 0 && !/\\\s*\n$/.test(code.slice(Math.max(0, lineStart - 3), lineStart));
}

/**
 * Statements of the form `frame[key].method(args, inplace=True)`, for the
 * methods whose result keeps the column's index (so assigning it back changes
 * exactly the values the inplace call changed in pandas 2). pandas 3 only warns
 * (ChainedAssignmentError) and leaves the frame as it was: the starter filled a
 * column's NaN that way, trained on the same NaN four times, and answered
 * with a number no cell printed (DABench 23). `dropna` and `sort_values` are
 * left alone: assigning their result back realigns it on the index.
 */
function rewriteChainedInplace(code: string, rewrites: CodeRewrite[]): string {
  const statement = /^([ \t]*)([A-Za-z_]\w*\[)/gm;
  const mask = pythonTextMask(code);
  const depths = bracketDepths(code, mask);
  const edits: { start: number; end: number; to: string }[] = [];
  for (const match of code.matchAll(statement)) {
    const targetStart = match.index! + match[1].length;
    if (mask[targetStart] || !startsStatement(code, match.index!, depths)) {
      continue;
    }
    const subscriptOpen = targetStart + match[2].length - 1;
    const subscriptClose = closingParen(code, subscriptOpen, mask);
    if (subscriptClose === -1) {
      continue;
    }
    const method = /^\.(fillna|replace|interpolate|ffill|bfill|clip)\s*\(/.exec(code.slice(subscriptClose + 1));
    if (!method) {
      continue;
    }
    const open = subscriptClose + method[0].length;
    const close = closingParen(code, open, mask);
    const rest = close === -1 ? '' : /^[^\n]*/.exec(code.slice(close + 1))![0];
    if (close === -1 || !/^\s*(#.*)?$/.test(rest)) {
      continue;
    }
    const args = callArguments(code, open, close, mask);
    const inplace = args.findIndex(a => /^inplace\s*=\s*True$/.test(a));
    if (inplace === -1) {
      continue;
    }
    const target = code.slice(targetStart, subscriptClose + 1);
    const to = `${target} = ${target}.${method[1]}(${args.filter((_, i) => i !== inplace).join(', ')})`;
    edits.push({ start: targetStart, end: close + 1, to });
  }
  let out = code;
  // From the last statement back, so the indices of the earlier ones still hold.
  for (const edit of [...edits].reverse()) {
    out = out.slice(0, edit.start) + edit.to + out.slice(edit.end);
  }
  rewrites.push(...edits.map(edit => ({ from: code.slice(edit.start, edit.end), to: edit.to, why: CHAINED_INPLACE_WHY })));
  return out;
}
