/**
 * The usual aliases imported for a step that uses one it never imports, and the
 * loop running the step with them (profiles with errorRecovery only).
 */
import { AgentLoop } from '../../src/agent/loop';
import { addStandardImports } from '../../src/agent/standardImports';
import { CodeRunner, ExecutionResult } from '../../src/agent/types';
import { formatAnswer, formatStep } from '../../src/protocol';
import { ScriptedModel } from '../helpers/scriptedModel';

describe('addStandardImports', () => {
  it('imports each usual alias a step uses without importing it, in a fixed order, and records each line', () => {
    const code = "df['log'] = df['x'].apply(lambda v: np.log(v))\nplt.hist(df['log'])";
    const out = addStandardImports(code);
    expect(out.code).toBe(`import numpy as np\nimport matplotlib.pyplot as plt\n${code}`);
    expect(out.rewrites).toEqual([
      { from: '', to: 'import numpy as np', why: expect.stringContaining('usual alias') },
      { from: '', to: 'import matplotlib.pyplot as plt', why: expect.stringContaining('usual alias') }
    ]);
    expect(addStandardImports("import numpy\nprint(np.mean([1, 2]))").code).toBe("import numpy as np\nimport numpy\nprint(np.mean([1, 2]))");
    expect(addStandardImports("sns.histplot(df['x'])").code).toBe("import seaborn as sns\nsns.histplot(df['x'])");
    expect(addStandardImports("df = pd.read_csv('a.csv')").code).toBe("import pandas as pd\ndf = pd.read_csv('a.csv')");
    expect(addStandardImports('r, p = scipy.stats.pearsonr(x, y)').code).toBe('import scipy.stats\nr, p = scipy.stats.pearsonr(x, y)');
    expect(addStandardImports('z = scipy.stats.zscore(x)\nt = scipy.stats.ttest_ind(a, b)\nprint(scipy.__version__, scipy.optimize.minimize)').code).toBe(
      'import scipy.stats\nimport scipy.optimize\nz = scipy.stats.zscore(x)\nt = scipy.stats.ttest_ind(a, b)\nprint(scipy.__version__, scipy.optimize.minimize)'
    );
    expect(addStandardImports('print(scipy.__version__)').code).toBe('import scipy\nprint(scipy.__version__)');
    expect(addStandardImports("df = pd.read_csv(sorted(glob.glob('*.csv'))[0])").code).toBe("import pandas as pd\nimport glob\ndf = pd.read_csv(sorted(glob.glob('*.csv'))[0])");
  });

  it('leaves a step that imports, assigns or only mentions the name, and cell magics, as written', () => {
    const untouched = [
      'import numpy as np\nprint(np.pi)',
      'import pandas as pd, numpy as np\nprint(np.pi)',
      'from matplotlib import pyplot as plt\nplt.plot([1])',
      'import scipy.stats\nscipy.stats.pearsonr(x, y)',
      "from glob import glob\nfiles = glob('*.csv')",
      "import glob\nfiles = glob.glob('*.csv')",
      'np = FakeNumpy()\nnp.log(1)',
      "print('np.log is the natural log')  # np.log",
      'print(grp.np.mean)',
      'x = 1',
      '%%time\nprint(np.log(2))',
      'from __future__ import annotations\nprint(np.pi)'
    ];
    for (const code of untouched) {
      expect(addStandardImports(code)).toEqual({ code, rewrites: [] });
    }
  });
});


describe('the loop and missing imports', () => {
  it('runs the step with the import under compact, keeps what the model wrote, and leaves datarus-r1 as written', async () => {
    const code = "print(np.log(df['x']).mean())";
    const ran: string[] = [];
    const runner: CodeRunner = {
      run: async (c: string): Promise<ExecutionResult> => {
        ran.push(c);
        return { status: 'ok', outputs: [{ output_type: 'stream', name: 'stdout', text: '0.5\n' }], durationMs: 1 };
      }
    };
    const turns = () => [formatStep({ thought: 'Log mean.', code }), formatAnswer({ thought: 'Printed.', text: 'The mean log is 0.5.' })];
    const compact = await new AgentLoop(new ScriptedModel(turns()), runner).run({ episodeId: 'a', question: 'Mean log?', profile: 'compact' });
    expect(ran[0]).toBe(`import numpy as np\n${code}`);
    expect(compact.steps[0]).toMatchObject({ code: ran[0], modelCode: code, rewrites: [{ from: '', to: 'import numpy as np' }] });
    await new AgentLoop(new ScriptedModel(turns()), runner).run({ episodeId: 'b', question: 'Mean log?', profile: 'datarus-r1' });
    expect(ran[1]).toBe(code);
  });
});
