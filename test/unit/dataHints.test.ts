/**
 * What the model is told about the data before and after a mistake: the data
 * files a question names (in the context) and the real columns after a step
 * fails on a column name (in the observation). The kernel side of both is in
 * test/integration/grounding.test.ts.
 */
import { COLUMNS_EXPRESSION, columnFix, columnMatch, columnMatchNote, formatColumnHint, isColumnError, kernelColumns, renameColumn } from '../../src/agent/columnHint';
import { buildContext } from '../../src/agent/context';
import { dataFilesExpression, dataFilesIn, describeDataFiles, formatDataFiles } from '../../src/agent/dataFiles';
import { fenceData } from '../../src/agent/untrusted';
import { AgentLoop } from '../../src/agent/loop';
import type { AgentModel, CodeRunner, ExecutionResult, ModelTurn, ModelTurnRequest, NbOutput } from '../../src/agent/types';
import { formatAnswer, formatStep } from '../../src/protocol';

describe('data files named in a question', () => {
  it('finds relative data-file names, never paths that leave the folder', () => {
    expect(dataFilesIn('Using sales.csv, which region had the highest total revenue, and how much?')).toEqual(['sales.csv']);
    expect(dataFilesIn('Join data/orders.parquet with customers.xlsx and people.tsv; also sales.csv and sales.csv.')).toEqual([
      'data/orders.parquet',
      'customers.xlsx',
      'people.tsv',
      'sales.csv'
    ]);
    expect(dataFilesIn('Read /etc/passwd.csv and ../secret.csv and a/../../b.csv')).toEqual([]);
    expect(dataFilesIn('What is the mean price?')).toEqual([]);
  });

  it('passes the names to the kernel as data, not code', () => {
    const expression = dataFilesExpression(['sales.csv']);
    expect(expression).toContain('{\'names\': ["sales.csv"]}');
    expect(expression).toContain('exec(');
    expect(dataFilesExpression(null)).toContain("{'names': None}");
  });

  it('says when column names begin or end with a space, as a header written "a, b" gives them', () => {
    expect(formatDataFiles({ source: 'question', files: [{ name: 'baro.csv', rows: 3, dtypes: { 'DATE TIME': 'str', ' WINDSPEED': 'float64', ' DIR ': 'int64' }, columns: 3 }] })).toBe(
      "Data files in the kernel's working folder:\n- 'baro.csv': 3 rows; columns 'DATE TIME': str, ' WINDSPEED': float64, ' DIR ': int64\n" +
        '  (2 of these names begin or end with a space: write them exactly, or strip them once after reading, df.columns = df.columns.str.strip())'
    );
    expect(formatDataFiles({ source: 'question', files: [{ name: 'c.csv', rows: 1, dtypes: { 'calls ': 'int64', b: 'int64' }, columns: 2 }] })).toContain('(1 of these names begins or ends with a space');
  });

  it('formats columns, dtypes and rows, and says when a file could not be read', () => {
    const text = formatDataFiles({
      source: 'question',
      files: [
        { name: 'sales.csv', rows: 150, dtypes: { date: 'object', units: 'int64', unit_price: 'float64' }, columns: 3 },
        { name: 'big.csv', rows: null, dtypes: { a: 'int64' }, columns: 90 },
        { name: 'bad.xlsx', error: 'ImportError: Missing optional dependency openpyxl' }
      ]
    });
    expect(text).toBe(
      "Data files in the kernel's working folder:\n" +
        "- 'sales.csv': 150 rows; columns 'date': object, 'units': int64, 'unit_price': float64\n" +
        "- 'big.csv': many rows (too big to count here); columns 'a': int64, … (90 columns)\n" +
        "- 'bad.xlsx': could not be read (ImportError: Missing optional dependency openpyxl)"
    );
    expect(formatDataFiles({ source: 'question', files: [] })).toBe('');
  });

  it('describes the few data files of the working folder when the question names none, and lists many by name', () => {
    expect(formatDataFiles({ source: 'folder', files: [{ name: 'orders.csv', rows: 100, dtypes: { city: 'str', qty: 'int64' }, columns: 2 }], listed: [], total: 1 })).toBe(
      "Data files in the kernel's working folder:\n- 'orders.csv': 100 rows; columns 'city': str, 'qty': int64"
    );
    expect(formatDataFiles({ source: 'folder', files: [], listed: ['a.csv', 'b.csv'], total: 25 })).toBe(
      "Data files in the kernel's working folder (25; the question names none): 'a.csv', 'b.csv', and 23 more"
    );
    expect(formatDataFiles({ source: 'folder', files: [], listed: [], total: 0 })).toBe('');
  });

  it('reads the same whether the question named the file, the user gave it (--data) or it was found in the folder', () => {
    const files = [{ name: 'sales.csv', rows: 12, dtypes: { region: 'str', units: 'int64' }, columns: 2 }];
    expect(formatDataFiles({ source: 'question', files })).toBe(formatDataFiles({ source: 'folder', files, listed: [], total: 1 }));
  });

  it('puts the files first in the context, asks the kernel for the folder\'s files when no file is named, and survives a kernel that cannot say', async () => {
    const context = buildContext([{ cellType: 'markdown', source: '# Notes' }], [], 1000, { source: 'question', files: [{ name: 's.csv', rows: 2, dtypes: { x: 'int64' }, columns: 1 }] });
    expect(context).toBe(fenceData("Data files in the kernel's working folder:\n- 's.csv': 2 rows; columns 'x': int64\n\nRecent notebook cells:\n[markdown]\n# Notes"));
    const asked: string[] = [];
    expect(await describeDataFiles('What is the mean?', async e => (asked.push(e), '{"files": [], "listed": [], "total": 0}'))).toEqual({ source: 'folder', files: [], listed: [], total: 0 });
    expect(asked).toEqual([dataFilesExpression(null)]);
    expect(await describeDataFiles('Mean of s.csv?', async () => 'not json')).toEqual({ source: 'question', files: [] });
    expect(await describeDataFiles('Mean of s.csv?', async () => null)).toEqual({ source: 'question', files: [] });
  });
});

describe('columns after a step fails on a column name', () => {
  it('applies to KeyError and to AttributeError on a DataFrame, not to other errors', () => {
    expect(isColumnError({ ename: 'KeyError', evalue: "'amount'" })).toBe(true);
    expect(isColumnError({ ename: 'AttributeError', evalue: "'DataFrame' object has no attribute 'quantity'" })).toBe(true);
    expect(isColumnError({ ename: 'AttributeError', evalue: "'NoneType' object has no attribute 'x'" })).toBe(false);
    expect(isColumnError({ ename: 'ZeroDivisionError', evalue: 'division by zero' })).toBe(false);
  });

  it('names each frame and its columns, within a size limit', () => {
    expect(formatColumnHint({ df: ['date', 'units', 'unit_price'], other: ['a'] })).toBe("[columns of the DataFrames in the kernel: df: 'date', 'units', 'unit_price'; other: 'a']");
    expect(formatColumnHint({})).toBe('');
    expect(formatColumnHint({ wide: Array.from({ length: 500 }, (_, i) => `column_${i}`) }).length).toBeLessThanOrEqual(1500);
  });

  it('asks the runner only when it applies and it can inspect', async () => {
    const asked: string[] = [];
    const runner: CodeRunner = { run: async () => ({ status: 'ok', outputs: [], durationMs: 0 }), inspect: async e => (asked.push(e), '{"df": ["units"]}') };
    // The loop's hint: the columns read after a column error, formatted.
    const columnHint = async (r: CodeRunner, error: { ename: string; evalue: string } | null) => {
      const frames = await kernelColumns(r, error);
      return frames ? formatColumnHint(frames) : '';
    };
    expect(await columnHint(runner, null)).toBe('');
    expect(await columnHint(runner, { ename: 'ValueError', evalue: 'x' })).toBe('');
    expect(asked).toEqual([]);
    expect(await columnHint(runner, { ename: 'KeyError', evalue: "'amount'" })).toBe("[columns of the DataFrames in the kernel: df: 'units']");
    expect(asked).toEqual([COLUMNS_EXPRESSION]);
    expect(await columnHint({ run: runner.run }, { ename: 'KeyError', evalue: "'amount'" })).toBe('');
  });
});

describe('a column name that differs from a real one only in spelling', () => {
  const baro = { df: ['DATE TIME', ' WINDSPEED', ' DIR'], other: ['timestamp', 'num. calls abandoned ', '.SPX', 'pop', 'Whole weight', 'Shell weight'] };
  const keyError = (evalue: string) => ({ ename: 'KeyError', evalue });

  it('finds the only column equal up to spaces, case and separators, in any KeyError message', () => {
    expect(columnMatch(baro, keyError("'WINDSPEED'"))).toEqual({ used: 'WINDSPEED', actual: ' WINDSPEED', spacesOnly: true, frame: 'df' });
    expect(columnMatch(baro, keyError('"[\'num. calls abandoned\'] not in index"'))).toEqual({ used: 'num. calls abandoned', actual: 'num. calls abandoned ', spacesOnly: true, frame: 'other' });
    expect(columnMatch(baro, keyError('"None of [Index([\'DATE_TIME\'], dtype=\'object\')] are in the [columns]"'))).toMatchObject({ actual: 'DATE TIME', spacesOnly: false });
    expect(columnMatch(baro, keyError("'SPX'"))).toMatchObject({ actual: '.SPX', spacesOnly: false });
    expect(columnMatch(baro, { ename: 'AttributeError', evalue: "'DataFrame' object has no attribute 'Pop'" })).toMatchObject({ actual: 'pop' });
    // A groupby's selection: `df.groupby('DATE TIME')['WINDSPEED']`.
    expect(columnMatch(baro, keyError("'Column not found: WINDSPEED'"))).toMatchObject({ used: 'WINDSPEED', actual: ' WINDSPEED', spacesOnly: true });
    expect(columnMatch(baro, keyError('"Columns not found: \'shell_weight\', \'pop\'"'))).toMatchObject({ used: 'shell_weight', actual: 'Shell weight' });
  });

  it('names none when no column or several are alike, the name exists, or the error is another', () => {
    expect(columnMatch(baro, keyError("'Weight'"))).toBeNull();
    expect(columnMatch({ a: ['x y', 'x_y'] }, keyError("'XY'"))).toBeNull();
    expect(columnMatch(baro, keyError("'pop'"))).toBeNull();
    expect(columnMatch(baro, keyError("'Pfizer/BioNTech'"))).toBeNull();
    expect(columnMatch(baro, { ename: 'ValueError', evalue: "'WINDSPEED'" })).toBeNull();
    expect(columnMatch(baro, null)).toBeNull();
  });

  it('says how to write it, with the name quoted as Python writes it and the frame only when it is a plain name', () => {
    expect(columnMatchNote(columnMatch(baro, keyError("'SPX'"))!)).toBe(
      "[there is no column 'SPX'; the data spells it '.SPX'. To use it, rename the column '.SPX' to 'SPX' right after reading the file, with other = other.rename(columns={'.SPX': 'SPX'}).]"
    );
    const odd = columnMatch({ 'not a name': ['\nWINDSPEED'] }, keyError("'WINDSPEED'"))!;
    expect(columnMatchNote(odd)).toBe(
      "[there is no column 'WINDSPEED'; the data spells it '\\nWINDSPEED'. To use it, strip the spaces from every column name right after reading the file, with df.columns = df.columns.str.strip().]"
    );
  });

  it('goes on, in the turn after the error, from a line that makes the data match the code', () => {
    expect(columnFix(columnMatch(baro, keyError("'SPX'"))!)).toBe("rename the column '.SPX' to 'SPX' right after reading the file, with other = other.rename(columns={'.SPX': 'SPX'}), and then");
    expect(columnFix(columnMatch(baro, keyError("'WINDSPEED'"))!)).toBe('strip the spaces from every column name right after reading the file, with df.columns = df.columns.str.strip(), and then');
    expect(renameColumn(columnMatch({ sales: ['Total Sales'] }, keyError("'total_sales'"))!)).toBe("sales = sales.rename(columns={'Total Sales': 'total_sales'})");
  });

  it('reads the columns from the kernel only after a column error, and copes with what it cannot parse', async () => {
    const reply = (text: string | null): CodeRunner => ({ run: async () => ({ status: 'ok', outputs: [], durationMs: 0 }), inspect: async () => text });
    expect(await kernelColumns(reply('{"df": ["a"]}'), keyError("'b'"))).toEqual({ df: ['a'] });
    expect(await kernelColumns(reply('{"df": ["a"]}'), { ename: 'ValueError', evalue: 'x' })).toBeNull();
    expect(await kernelColumns(reply('not json'), keyError("'b'"))).toBeNull();
    expect(await kernelColumns(reply('[1, 2]'), keyError("'b'"))).toEqual({});
    expect(await kernelColumns(reply(null), keyError("'b'"))).toEqual({});
  });
});

/** Two scripted turns: a step, then an answer. */
class TwoTurns implements AgentModel {
  readonly name = 'scripted';
  readonly requests: ModelTurnRequest[] = [];
  private readonly _turns = [formatStep({ thought: 'Sum.', code: "print(df['amount'].sum())" }), formatAnswer({ thought: 'Unknown.', text: 'I could not tell.' })];
  async complete(request: ModelTurnRequest): Promise<ModelTurn> {
    this.requests.push(request);
    const turn = this._turns.shift()!;
    const stop = request.stop.find(s => turn.includes(s));
    return { text: stop ? turn.slice(0, turn.indexOf(stop)) : turn, stopString: stop ?? null, stopReason: stop ? 'stop' : 'eos' };
  }
}

const keyError: NbOutput = { output_type: 'error', ename: 'KeyError', evalue: "'amount'", traceback: ["KeyError: 'amount'"] };
const failing: CodeRunner = {
  run: async (): Promise<ExecutionResult> => ({ status: 'error', outputs: [keyError], durationMs: 1 }),
  inspect: async () => '{"df": ["date", "region", "units", "unit_price"]}'
};

describe('the loop adds the columns to the observation', () => {
  it.each(['generic', 'compact'])('profile %s: the observation after a KeyError names the real columns, and the model reads it', async profile => {
    const model = new TwoTurns();
    const episode = await new AgentLoop(model, failing).run({ episodeId: 'k', question: 'What is the total amount?', profile });
    expect(episode.steps[0].observation).toMatch(/KeyError: 'amount'\n\[columns of the DataFrames in the kernel: df: 'date', 'region', 'units', 'unit_price'\]$/);
    expect(model.requests[1].messages.map(m => m.content).join('\n')).toContain("df: 'date', 'region', 'units', 'unit_price'");
  });

  it('datarus-r1: the observation stays the harness one', async () => {
    const episode = await new AgentLoop(new TwoTurns(), failing).run({ episodeId: 'k', question: 'What is the total amount?', profile: 'datarus-r1' });
    expect(episode.steps[0].observation).not.toContain('columns of the DataFrames');
  });
});
