/**
 * Stuck detection: the same code again, and a turn that repeats itself.
 */
import { findRepetition, normalizeCode, RepeatedCode, RepetitionWatch } from '../../src/agent/stuck';

const REAL_TURN = `<step>
<thought>I load sales.csv, group by region and sum the revenue to find the largest total.</thought>
<action>python_executor</action>
<action_input>
import pandas as pd
df = pd.read_csv("sales.csv")
totals = df.groupby("region")["revenue"].sum().sort_values(ascending=False)
print(totals)
print(totals.index[0], round(totals.iloc[0], 2))
print(df.head())
print(df.describe())
print(df.dtypes)
print(df["region"].value_counts())
print(df["product"].value_counts())
</action_input>
</step>`;

describe('normalizeCode and RepeatedCode', () => {
  it('ignores line endings, trailing spaces and blank lines, not indentation', () => {
    expect(normalizeCode('x = 1  \r\n\r\nprint(x)\n')).toBe('x = 1\nprint(x)');
    expect(normalizeCode('if a:\n  b()')).not.toBe(normalizeCode('if a:\nb()'));
  });

  it('counts the same code written in a row and starts over on different code', () => {
    const seen = new RepeatedCode();
    expect(seen.repeats('print(1)')).toBe(false);
    expect(seen.note('print(1)')).toBe(1);
    expect(seen.repeats('print(1)\n')).toBe(true);
    expect(seen.note('print(1)\n')).toBe(2);
    expect(seen.note('print(1)  ')).toBe(3);
    expect(seen.note('print(2)')).toBe(1);
    expect(seen.note('print(1)')).toBe(1);
    seen.reset();
    expect(seen.repeats('print(1)')).toBe(false);
  });
});

describe('findRepetition and RepetitionWatch', () => {
  it('passes a real step, even one with many similar lines', () => {
    expect(findRepetition(REAL_TURN)).toBeNull();
    const watch = new RepetitionWatch();
    for (const piece of REAL_TURN.match(/[\s\S]{1,5}/g)!) {
      expect(watch.feed(piece)).toBe(false);
    }
  });

  it('passes short rhythms: a rule of dashes, a few identical lines', () => {
    expect(findRepetition(`print("${'-'.repeat(80)}")\n`)).toBeNull();
    expect(findRepetition(REAL_TURN + '\nprint()\nprint()\nprint()\n')).toBeNull();
  });

  it('trips on one line repeated, keeping the text up to its first copy', () => {
    const line = 'python code to calculate the total quantity\n';
    const prefix = '<step>\n<thought>Sum it.</thought>\n<action>python_executor</action>\n<action_input>\n';
    const watch = new RepetitionWatch();
    let tripped = -1;
    for (let i = 0; i < 200 && tripped < 0; i++) {
      if (watch.feed(i === 0 ? prefix + line : line)) {
        tripped = i;
      }
    }
    // Caught within a few hundred characters of the repetition, not at the token limit.
    expect(tripped).toBeGreaterThan(3);
    expect(tripped).toBeLessThan(30);
    expect(watch.repeating).toBe(true);
    // The repeated unit is found rotated (it starts at the newline before the first copy): one copy is kept.
    expect(watch.kept().trimEnd()).toBe((prefix + line).trimEnd());
    expect(watch.feed('anything')).toBe(true);
  });

  it('trips on a repeated block of several lines and on a single repeated character', () => {
    const block = 'df = df.dropna()\nprint(df.shape)\n';
    const text = 'import pandas as pd\n' + block.repeat(30);
    expect(text.slice(0, findRepetition(text)!).trimEnd()).toBe(('import pandas as pd\n' + block).trimEnd());
    expect(findRepetition('<thought>' + '!'.repeat(700))).toBe('<thought>!'.length);
  });

  it('looks only at the end: a repetition followed by new text is over', () => {
    expect(findRepetition('x\n'.repeat(400) + 'print(df.groupby("region")["revenue"].sum())\n')).toBeNull();
  });
});
