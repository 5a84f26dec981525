/**
 * The data files the model reads about before it writes any code: columns with
 * dtypes and the row count, read through the kernel (so in the kernel's working
 * folder, wherever the notebook is). A small model that sees `units` and
 * `unit_price` does not guess `amount` and `quantity`.
 *
 * The files the question names; when it names none, the data files in the
 * working folder (described when there are few, listed by name when there are
 * many), because users ask "which city sells most?" without naming the file.
 * Only relative names inside the working folder are read (no absolute paths,
 * no `..`), at most a few files, and a big file only in part.
 */
import { stripColumnNames } from './columnHint';
import { asJsonRepr } from './inspect';
import { cleanLine, pyRepr } from './untrusted';

export interface DataFileInfo {
  name: string;
  /** Rows in the file; null when it was too big to read whole. */
  rows?: number | null;
  /** Column → dtype, the first columns only; `columns` says how many there are. */
  dtypes?: Record<string, string>;
  columns?: number;
  /** Why it could not be read. */
  error?: string;
}

const MAX_FILES = 4;
const MAX_COLUMNS = 40;
/** Files up to this size are read whole (for the row count); bigger ones only their first rows. */
const FULL_READ_BYTES = 50 * 1024 * 1024;
const PARTIAL_ROWS = 1000;

const DATA_FILE = /(?<![\w./\\-])((?:[\w-]+\/)*[\w][\w.-]*\.(?:csv|tsv|parquet|xlsx|xls))(?![\w])/gi;

/** Relative data-file names in a question (`sales.csv`, `data/q1.parquet`), in order, without paths that leave the folder. */
export function dataFilesIn(question: string): string[] {
  const names = [...question.matchAll(DATA_FILE)].map(m => m[1]).filter(name => !name.split('/').includes('..'));
  return [...new Set(names)].slice(0, MAX_FILES);
}

/** The data files found, and whether the question named them or they were found in the working folder. */
export interface DataFiles {
  source: 'question' | 'folder';
  /** The files described (at most MAX_FILES). */
  files: DataFileInfo[];
  /** Files in the folder not described because there were too many, in order (at most MAX_LISTED). */
  listed?: string[];
  /** How many data files the folder holds, when `source` is `folder`. */
  total?: number;
}

/** The extensions read as data, with the dot. */
const EXTENSIONS = ['.csv', '.tsv', '.parquet', '.xlsx', '.xls'];
const MAX_LISTED = 20;

/**
 * Python, run in the kernel: when `names` is None, finds the data files in the
 * working folder (sorted, hidden files left out); reads each file that exists
 * and describes it.
 */
const DESCRIBE_FILES = `
import json, os
import pandas as pd
listed = None
total = None
if names is None:
    found = sorted(f for f in os.listdir('.') if f.lower().endswith(tuple(${JSON.stringify(EXTENSIONS)})) and not f.startswith('.') and os.path.isfile(f))
    total = len(found)
    names = found if total <= ${MAX_FILES} else []
    listed = [] if total <= ${MAX_FILES} else found[:${MAX_LISTED}]
out = []
for name in names:
    if not os.path.isfile(name):
        continue
    info = {'name': name}
    try:
        ext = name.lower().rsplit('.', 1)[-1]
        whole = os.path.getsize(name) <= ${FULL_READ_BYTES}
        rows = None if whole else ${PARTIAL_ROWS}
        if ext == 'parquet':
            df = pd.read_parquet(name)
        elif ext in ('xlsx', 'xls'):
            df = pd.read_excel(name, nrows=rows)
        else:
            df = pd.read_csv(name, sep='\\t' if ext == 'tsv' else ',', nrows=rows)
        info['rows'] = len(df) if whole or ext == 'parquet' else None
        info['dtypes'] = {str(c)[:200]: str(t)[:40] for c, t in list(df.dtypes.items())[:${MAX_COLUMNS}]}
        info['columns'] = len(df.columns)
    except Exception as e:
        info['error'] = (type(e).__name__ + ': ' + str(e))[:200]
    out.append(info)
result = json.dumps({'files': out, 'listed': listed, 'total': total})
`;

/**
 * A Python expression (for a silent `user_expressions` request) whose repr is
 * the JSON of the files' descriptions; `null` names: the working folder's data files.
 */
export function dataFilesExpression(names: string[] | null): string {
  return asJsonRepr(`(lambda ns: (exec(${JSON.stringify(DESCRIBE_FILES)}, ns), ns['result'])[1])({'names': ${names === null ? 'None' : JSON.stringify(names)}})`);
}

/** Names are quoted as Python writes them (a header can hold anything, newlines and requests included). */
function describeFile(f: DataFileInfo): string {
  if (f.error) {
    return `- ${pyRepr(String(f.name))}: could not be read (${cleanLine(String(f.error), 200)})`;
  }
  const dtypes = Object.entries(f.dtypes ?? {})
    .map(([c, t]) => `${pyRepr(c)}: ${cleanLine(String(t), 40)}`)
    .join(', ');
  const more = (f.columns ?? 0) > Object.keys(f.dtypes ?? {}).length ? `, … (${f.columns} columns)` : '';
  const rows = f.rows === null || f.rows === undefined ? 'many rows (too big to count here)' : `${f.rows} rows`;
  // The starter writes `df['WINDSPEED']` for a header's ' WINDSPEED' unless told (DABench's baro_2015.csv, 6 tasks).
  const spaced = Object.keys(f.dtypes ?? {}).filter(c => c !== c.trim()).length;
  const spaces =
    spaced > 0
      ? `\n  (${spaced === 1 ? '1 of these names begins or ends' : `${spaced} of these names begin or end`} with a space: write them exactly, or strip them once after reading, ${stripColumnNames('df')})`
      : '';
  return `- ${pyRepr(String(f.name))}: ${rows}; columns ${dtypes}${more}${spaces}`;
}

export function formatDataFiles(found: DataFiles): string {
  const { files, listed = [], total = files.length } = found;
  if (files.length === 0 && listed.length === 0) {
    return '';
  }
  // One heading however the files were found (named in the question, given as `--data`, found in the folder):
  // the same files on the same kernel state read the same from every front door.
  if (listed.length > 0) {
    const rest = total > listed.length ? `, and ${total - listed.length} more` : '';
    return `Data files in the kernel's working folder (${total}; the question names none): ${listed.map(n => pyRepr(n)).join(', ')}${rest}`;
  }
  return `Data files in the kernel's working folder:\n${files.map(describeFile).join('\n')}`;
}

/**
 * The data files for a question, described through `inspect` (a silent
 * evaluation in the kernel): those given, else those it names, else those in the working folder;
 * none when there are none or the kernel cannot say.
 */
export async function describeDataFiles(
  question: string,
  inspect: (expression: string) => Promise<string | null>,
  given: string[] = []
): Promise<DataFiles> {
  // Files the user named apart from the question (the magic's `--data`) count as named by it.
  const names = given.length > 0 ? given.slice(0, MAX_FILES) : dataFilesIn(question);
  const source = names.length > 0 ? 'question' : 'folder';
  const text = await inspect(dataFilesExpression(names.length > 0 ? names : null)).catch(() => null);
  try {
    const parsed = text ? (JSON.parse(text) as { files?: unknown; listed?: unknown; total?: unknown }) : {};
    const files = Array.isArray(parsed.files) ? (parsed.files as DataFileInfo[]) : [];
    const listed = Array.isArray(parsed.listed) ? (parsed.listed as string[]).filter(n => typeof n === 'string') : [];
    const total = typeof parsed.total === 'number' ? parsed.total : files.length;
    return { source, files, ...(source === 'folder' ? { listed, total } : {}) };
  } catch {
    return { source, files: [] };
  }
}
