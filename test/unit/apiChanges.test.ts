/**
 * Notes for calls the installed data stack removed, on the errors the
 * libraries really raise (messages copied from scikit-learn 1.9, pandas 3.1,
 * matplotlib 3.11), and the loop adding them only where the profile helps.
 */
import { apiChangeHint, rewriteRemovedCalls } from '../../src/agent/apiChanges';
import { AgentLoop } from '../../src/agent/loop';
import { CodeRunner, ExecutionResult } from '../../src/agent/types';
import { formatAnswer, formatStep } from '../../src/protocol';
import { ScriptedModel } from '../helpers/scriptedModel';

describe('apiChangeHint', () => {
  it('names what replaced a removed call', () => {
    expect(apiChangeHint({ ename: 'TypeError', evalue: "got an unexpected keyword argument 'squared'" })).toContain('root_mean_squared_error(y_true, y_pred)');
    expect(apiChangeHint({ ename: 'TypeError', evalue: "OneHotEncoder.__init__() got an unexpected keyword argument 'sparse'" })).toContain('sparse_output=');
    expect(apiChangeHint({ ename: 'AttributeError', evalue: "'DataFrame' object has no attribute 'append'" })).toContain('pd.concat');
    expect(apiChangeHint({ ename: 'AttributeError', evalue: "'Series' object has no attribute 'iteritems'" })).toContain('items()');
    expect(apiChangeHint({ ename: 'OSError', evalue: "'seaborn' is not a valid package style, path of style file, URL of style file, or library style name" })).toContain('seaborn-v0_8');
    expect(apiChangeHint({ ename: 'TypeError', evalue: "dtype 'str' does not support operation 'mean'" })).toContain("select_dtypes('number')");
    expect(apiChangeHint({ ename: 'TypeError', evalue: "Cannot perform reduction 'sum' with string dtype" })).toContain('pd.to_numeric');
    expect(apiChangeHint({ ename: 'ValueError', evalue: "could not convert string to float: 'Asia'" })).toContain('numeric_only=True');
    expect(apiChangeHint({ ename: 'TypeError', evalue: "DataFrame.select_dtypes() got an unexpected keyword argument 'numeric_only'" })).toContain("df.select_dtypes('number')");
  });

  it('says nothing for other errors, the same words under another error name, or no error', () => {
    expect(apiChangeHint({ ename: 'KeyError', evalue: "'squared'" })).toBe('');
    expect(apiChangeHint({ ename: 'ValueError', evalue: "got an unexpected keyword argument 'squared'" })).toBe('');
    expect(apiChangeHint({ ename: 'AttributeError', evalue: "'DataFrame' object has no attribute 'amount'" })).toBe('');
    expect(apiChangeHint({ ename: 'TypeError', evalue: "unsupported operand type(s) for /: 'str' and 'int'" })).toBe('');
    expect(apiChangeHint(null)).toBe('');
  });
});


// A removed argument the rewrite does not reach (it is passed on to the metric at scoring time).
const SCORER = 'from sklearn.metrics import make_scorer, mean_squared_error\nscorer = make_scorer(mean_squared_error, squared=False)';
const RMSE = 'from sklearn.metrics import mean_squared_error\nprint(mean_squared_error([1, 2], [1, 3], squared=False))';
const failing: CodeRunner = {
  run: async (): Promise<ExecutionResult> => ({
    status: 'error',
    outputs: [{ output_type: 'error', ename: 'TypeError', evalue: "got an unexpected keyword argument 'squared'", traceback: ["TypeError: got an unexpected keyword argument 'squared'"] }],
    durationMs: 1
  })
};

describe('the loop and removed calls', () => {
  it('adds the note to the observation under compact, not under datarus-r1', async () => {
    const turns = () => [formatStep({ thought: 'RMSE.', code: SCORER }), formatAnswer({ thought: 'Failed.', text: 'unknown' })];
    const compact = await new AgentLoop(new ScriptedModel(turns()), failing).run({ episodeId: 'a', question: 'RMSE?', profile: 'compact' });
    expect(compact.steps[0].observation).toContain('[changed in the installed libraries: scikit-learn 1.6 removed squared=');
    const r1 = await new AgentLoop(new ScriptedModel(turns()), failing).run({ episodeId: 'b', question: 'RMSE?', profile: 'datarus-r1' });
    expect(r1.steps[0].observation).not.toContain('changed in the installed libraries');
  });

  it('runs a removed call rewritten under compact, records what the model wrote, and leaves datarus-r1 as written', async () => {
    const ran: string[] = [];
    const printing: CodeRunner = {
      run: async (code: string): Promise<ExecutionResult> => {
        ran.push(code);
        return { status: 'ok', outputs: [{ output_type: 'stream', name: 'stdout', text: '0.7071\n' }], durationMs: 1 };
      }
    };
    const turns = () => [formatStep({ thought: 'RMSE.', code: RMSE }), formatAnswer({ thought: 'Printed.', text: 'The RMSE is 0.7071.' })];
    const compact = await new AgentLoop(new ScriptedModel(turns()), printing).run({ episodeId: 'c', question: 'RMSE?', profile: 'compact' });
    expect(ran[0]).toBe('from sklearn.metrics import mean_squared_error\nprint((mean_squared_error([1, 2], [1, 3]) ** 0.5))');
    expect(compact.steps[0].code).toBe(ran[0]);
    expect(compact.steps[0].modelCode).toBe(RMSE);
    expect(compact.steps[0].rewrites).toEqual([
      { from: 'mean_squared_error([1, 2], [1, 3], squared=False)', to: '(mean_squared_error([1, 2], [1, 3]) ** 0.5)', why: expect.stringContaining('square root of the MSE') }
    ]);
    const r1 = await new AgentLoop(new ScriptedModel(turns()), printing).run({ episodeId: 'd', question: 'RMSE?', profile: 'datarus-r1' });
    expect(ran[1]).toBe(RMSE);
    expect(r1.steps[0].rewrites).toBeUndefined();
    expect(r1.steps[0].modelCode).toBeUndefined();
  });
});

describe('rewriteRemovedCalls', () => {
  it('takes the square root for squared=False and drops squared=True', () => {
    expect(rewriteRemovedCalls('rmse = mean_squared_error(y_test, y_pred, squared=False)').code).toBe('rmse = (mean_squared_error(y_test, y_pred) ** 0.5)');
    expect(rewriteRemovedCalls('mse = mean_squared_error(y_test, y_pred, squared = True)').code).toBe('mse = mean_squared_error(y_test, y_pred)');
    expect(rewriteRemovedCalls('e = mean_squared_log_error(y, p, squared=False)').code).toBe('e = (mean_squared_log_error(y, p) ** 0.5)');
  });

  it('handles dotted names, nested calls, keyword order and a call over several lines', () => {
    const code = 'from sklearn import metrics\nprint(round(metrics.mean_squared_error(\n    squared=False,\n    y_true=y_test,\n    y_pred=model.predict(X_test[["a", "b"]]),\n), 2))';
    const { code: out, rewrites } = rewriteRemovedCalls(code);
    expect(out).toBe('from sklearn import metrics\nprint(round((metrics.mean_squared_error(y_true=y_test, y_pred=model.predict(X_test[["a", "b"]])) ** 0.5), 2))');
    expect(rewrites).toHaveLength(1);
    const two = rewriteRemovedCalls('a = mean_squared_error(y1, p1, squared=False)\nb = mean_squared_error(y2, p2, squared=False)');
    expect(two.code).toBe('a = (mean_squared_error(y1, p1) ** 0.5)\nb = (mean_squared_error(y2, p2) ** 0.5)');
    expect(two.rewrites.map(r => r.from)).toEqual(['mean_squared_error(y1, p1, squared=False)', 'mean_squared_error(y2, p2, squared=False)']);
  });

  it('leaves strings, comments, other calls and a computed squared= as they are', () => {
    const untouched = [
      'print("mean_squared_error(a, b, squared=False)")  # mean_squared_error(a, b, squared=False)',
      "doc = '''\nmean_squared_error(a, b, squared=False)\n'''",
      'rmse = root_mean_squared_error(y, p)',
      'scorer = make_scorer(mean_squared_error, squared=False)',
      'e = mean_squared_error(y, p, squared=flag)',
      'e = mean_squared_error(y, p',
      "print('df.iteritems()')",
      'x = 1'
    ];
    for (const code of untouched) {
      expect(rewriteRemovedCalls(code)).toEqual({ code, rewrites: [] });
    }
  });

  it('turns iteritems() into items(), outside strings', () => {
    const { code, rewrites } = rewriteRemovedCalls("for name, col in df.iteritems():\n    print('.iteritems()', name)");
    expect(code).toBe("for name, col in df.items():\n    print('.iteritems()', name)");
    expect(rewrites).toEqual([{ from: '.iteritems()', to: '.items()', why: expect.stringContaining('pandas 2.0') }]);
  });

  it("assigns a column's inplace fillna or replace back to the column (pandas 3 never changes the frame)", () => {
    const code = [
      "df['Age'].fillna(df['Age'].median(), inplace=True)  # fill the gaps",
      'for col in cols:',
      '    data[col].replace({"yes": 1, "no": 0},',
      '                      inplace = True)',
      "df[['a', 'b']].fillna(0, inplace=True)"
    ].join('\n');
    const { code: out, rewrites } = rewriteRemovedCalls(code);
    expect(out).toBe(
      [
        "df['Age'] = df['Age'].fillna(df['Age'].median())  # fill the gaps",
        'for col in cols:',
        '    data[col] = data[col].replace({"yes": 1, "no": 0})',
        "df[['a', 'b']] = df[['a', 'b']].fillna(0)"
      ].join('\n')
    );
    expect(rewrites.map(r => r.from)).toEqual([
      "df['Age'].fillna(df['Age'].median(), inplace=True)",
      'data[col].replace({"yes": 1, "no": 0},\n                      inplace = True)',
      "df[['a', 'b']].fillna(0, inplace=True)"
    ]);
    expect(rewrites[0].why).toContain('pandas 3');
  });

  it('leaves inplace calls on a whole frame, dropna, calls inside expressions and text as they are', () => {
    const untouched = [
      "df.fillna(0, inplace=True)",
      "df['a'].dropna(inplace=True)",
      "df['a'].sort_values(inplace=True)",
      "df['a'].fillna(0)",
      "df['a'].fillna(0, inplace=flag)",
      "x = df['a'].fillna(0, inplace=True)",
      "print(\n    df['a'].fillna(0, inplace=True)\n)",
      "y = 1 + \\\ndf['a'].fillna(0, inplace=True)",
      "df['a'].fillna(0, inplace=True).sum()",
      "s = '''\ndf['a'].fillna(0, inplace=True)\n'''",
      "# df['a'].fillna(0, inplace=True)",
      "df['a'].fillna(0, inplace=True"
    ];
    for (const code of untouched) {
      expect(rewriteRemovedCalls(code)).toEqual({ code, rewrites: [] });
    }
  });
});
