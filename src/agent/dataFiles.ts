/**
 * Data files a question names, described for the model before it writes any
 * code: columns with dtypes and the row count, read through the kernel (so in
 * the kernel's working folder, wherever the notebook is). A small model that
 * sees `units` and `unit_price` does not guess `amount` and `quantity`.
 *
 * Only relative names inside the working folder are read (no absolute paths,
 * no `..`), at most a few files, and a big file only in part.
 */
import { asJsonRepr } from './inspect';

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

/** Python, run in the kernel: reads each file that exists and describes it. */
const DESCRIBE_FILES = `
import json, os
import pandas as pd
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
        info['dtypes'] = {str(c): str(t) for c, t in list(df.dtypes.items())[:${MAX_COLUMNS}]}
        info['columns'] = len(df.columns)
    except Exception as e:
        info['error'] = (type(e).__name__ + ': ' + str(e))[:200]
    out.append(info)
result = json.dumps(out)
`;

/** A Python expression (for a silent `user_expressions` request) whose repr is the JSON of the files' descriptions. */
export function dataFilesExpression(names: string[]): string {
  return asJsonRepr(`(lambda ns: (exec(${JSON.stringify(DESCRIBE_FILES)}, ns), ns['result'])[1])({'names': ${JSON.stringify(names)}})`);
}

export function formatDataFiles(files: DataFileInfo[]): string {
  if (files.length === 0) {
    return '';
  }
  const parts = files.map(f => {
    if (f.error) {
      return `- ${f.name}: could not be read (${f.error})`;
    }
    const dtypes = Object.entries(f.dtypes ?? {})
      .map(([c, t]) => `${c}: ${t}`)
      .join(', ');
    const more = (f.columns ?? 0) > Object.keys(f.dtypes ?? {}).length ? `, … (${f.columns} columns)` : '';
    const rows = f.rows === null || f.rows === undefined ? 'many rows (too big to count here)' : `${f.rows} rows`;
    return `- ${f.name}: ${rows}; columns ${dtypes}${more}`;
  });
  return `Data files named in the question (in the kernel's working folder):\n${parts.join('\n')}`;
}

/**
 * The data files the question names, described through `inspect` (a silent
 * evaluation in the kernel); [] when it names none, or none exists, or the
 * kernel cannot say.
 */
export async function describeDataFiles(question: string, inspect: (expression: string) => Promise<string | null>): Promise<DataFileInfo[]> {
  const names = dataFilesIn(question);
  if (names.length === 0) {
    return [];
  }
  const text = await inspect(dataFilesExpression(names)).catch(() => null);
  try {
    const files = text ? (JSON.parse(text) as DataFileInfo[]) : [];
    return Array.isArray(files) ? files : [];
  } catch {
    return [];
  }
}
