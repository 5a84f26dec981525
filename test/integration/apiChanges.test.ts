/**
 * The notes of apiChanges.ts against the errors the installed data stack really
 * raises (the checkout's .venv, the same stack as the headless kernels): each
 * old call fails with a message its entry matches, and the pandas conversions
 * the notes suggest run and give numbers; rewritten calls compute what the old
 * ones meant, and the usual aliases a step forgot are really imported. A library that changes its message
 * fails this test instead of silently dropping the note.
 */
import { execFileSync } from 'node:child_process';

import { API_CHANGES, apiChangeHint, rewriteRemovedCalls } from '../../src/agent/apiChanges';
import { addStandardImports } from '../../src/agent/standardImports';
import { PYTHON } from './paths';

jest.setTimeout(120000);

/** Old code the starter wrote, or code of its kind, each expected to fail. */
const OLD_CALLS: Record<string, string> = {
  squared: 'from sklearn.metrics import mean_squared_error\nmean_squared_error([1, 2], [1, 3], squared=False)',
  sparse: 'from sklearn.preprocessing import OneHotEncoder\nOneHotEncoder(sparse=False)',
  append: "pd.DataFrame({'a': [1]}).append(pd.DataFrame({'a': [2]}))",
  iteritems: 'list(pd.Series([1]).iteritems())',
  mad: 'pd.Series([1.0, 2.0]).mad()',
  seabornStyle: "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.style.use('seaborn')",
  groupbyMeanWithText: "pd.DataFrame({'country': ['a', 'a', 'b'], 'cases': ['1,000', '2', '3']}).groupby('country').mean()",
  meanOfText: "pd.Series(['1,000', '2']).mean()",
  corrWithText: "pd.DataFrame({'region': ['x', 'y'], 'v': [1, 2]}).corr()",
  selectDtypesNumericOnly: "pd.DataFrame({'a': [1]}).select_dtypes(numeric_only=True)",
  castTextToInt: "pd.Series(['1095083[606000-1717000]', '12']).astype('Int64')",
  toNumericOfText: "pd.to_numeric(pd.Series(['1,000', '2']))",
  intOfText: "pd.Series(['7 kg']).astype(int)"
};

const RUN_ALL = `
import json, sys
import pandas as pd
calls = json.loads(sys.stdin.read())
failures = {}
for name, code in calls.items():
    try:
        exec(code, {'pd': pd})
        failures[name] = None
    except Exception as e:
        failures[name] = {'ename': type(e).__name__, 'evalue': str(e)}
print(json.dumps(failures))
`;

function failuresOf(calls: Record<string, string>): Record<string, { ename: string; evalue: string } | null> {
  return JSON.parse(execFileSync(PYTHON, ['-c', RUN_ALL], { input: JSON.stringify(calls), encoding: 'utf8' }));
}

describe('notes on changed calls, against the installed libraries', () => {
  it('matches the error each old call raises, and every entry is exercised', () => {
    const failures = failuresOf(OLD_CALLS);
    const used = new Set<number>();
    for (const [name, failure] of Object.entries(failures)) {
      expect({ name, failed: failure !== null }).toEqual({ name, failed: true });
      const hint = apiChangeHint(failure);
      expect({ name, hint: hint.length > 0 }).toEqual({ name, hint: true });
      used.add(API_CHANGES.findIndex(c => c.ename === failure!.ename && c.evalue.test(failure!.evalue)));
    }
    expect(used.size).toBe(API_CHANGES.length);
  });

  it('suggests pandas conversions that run and give numbers', () => {
    const script = `
import pandas as pd
df = pd.DataFrame({'col': ['1,000', '2[1-3]', '-4.5', 'n/a']})
print(pd.to_numeric(df['col'].str.replace(',', '').str.extract(r'(-?\\d+\\.?\\d*)')[0], errors='coerce').tolist())
print(pd.to_numeric(df['col'].str.replace(',', ''), errors='coerce').tolist())
print(pd.DataFrame({'region': ['x', 'y'], 'v': [1, 2], 'w': [2, 4]}).corr(numeric_only=True).loc['v', 'w'])
print(pd.DataFrame({'country': ['a', 'a'], 'cases': [1, 3], 'name': ['p', 'q']}).groupby('country').mean(numeric_only=True).loc['a', 'cases'])
`;
    const hints = API_CHANGES.map(c => c.hint).join('\n');
    expect(hints).toContain("pd.to_numeric(df[col].str.replace(',', '').str.extract(r'(-?\\d+\\.?\\d*)')[0], errors='coerce')");
    expect(hints).toContain("pd.to_numeric(df[col].str.replace(',', ''), errors='coerce')");
    const lines = execFileSync(PYTHON, ['-c', script], { encoding: 'utf8' }).trim().split('\n');
    expect(lines).toEqual(['[1000.0, 2.0, -4.5, nan]', '[1000.0, nan, -4.5, nan]', '1.0', '2.0']);
  });

  it('rewrites removed calls into code that runs and computes what the old call meant', () => {
    const rmse = [
      'import numpy as np',
      'from sklearn.linear_model import LinearRegression',
      'from sklearn.metrics import mean_squared_error, root_mean_squared_error',
      'X = np.arange(20, dtype=float).reshape(-1, 1)',
      'y = 3 * X[:, 0] + np.sin(X[:, 0]) * 4',
      'pred = LinearRegression().fit(X, y).predict(X)',
      'print(round(mean_squared_error(y, pred, squared=False), 6), round(root_mean_squared_error(y, pred), 6))'
    ].join('\n');
    const items = "s = pd.Series({'a': 1, 'b': 2})\nprint([k for k, v in s.iteritems()])";
    const failures = failuresOf({ rmse, items });
    expect(failures.rmse?.ename).toBe('TypeError');
    expect(failures.items?.ename).toBe('AttributeError');
    const run = (code: string) => execFileSync(PYTHON, ['-c', `import pandas as pd\n${code}`], { encoding: 'utf8' }).trim();
    const [rewritten, reference] = run(rewriteRemovedCalls(rmse).code).split(' ');
    expect(rewritten).toBe(reference);
    expect(run(rewriteRemovedCalls(items).code)).toBe("['a', 'b']");
  });

  it("fills a column that an inplace call on the column leaves unfilled in the installed pandas", () => {
    const code = [
      "df = pd.DataFrame({'age': [20.0, None, 40.0], 'smoker': ['yes', 'no', 'yes']})",
      "df['age'].fillna(df['age'].mean(), inplace=True)",
      "df['smoker'].replace({'yes': 1, 'no': 0}, inplace=True)",
      "print(df['age'].isna().sum(), df['smoker'].tolist())"
    ].join('\n');
    const run = (source: string) =>
      execFileSync(PYTHON, ['-W', 'ignore', '-c', `import pandas as pd\n${source}`], { encoding: 'utf8' }).trim();
    expect(run(code)).toBe("1 ['yes', 'no', 'yes']");
    expect(run(rewriteRemovedCalls(code).code)).toBe('0 [1, 0, 1]');
  });

  it('imports the usual aliases a step forgot, so the step runs', () => {
    const code = "s = pd.Series([1.0, np.e])\nprint(round(np.log(s).mean(), 3))\nplt.hist(s)\nsns.set_theme()\nprint(round(scipy.stats.pearsonr(s, s)[0], 3))";
    const bare = execFileSync(PYTHON, ['-c', `try:\n    exec(${JSON.stringify(code)})\nexcept NameError as e:\n    print('NameError', e)`], { encoding: 'utf8' }).trim();
    expect(bare).toBe("NameError name 'pd' is not defined");
    const fixed = addStandardImports(code).code;
    expect(execFileSync(PYTHON, ['-c', `import matplotlib\nmatplotlib.use('Agg')\n${fixed}`], { encoding: 'utf8' }).trim()).toBe('0.5\n1.0');
  });
});
