/**
 * The `compact` prompt profile for small models: nothing in it is placeholder
 * text a model could echo, and its worked example is itself valid protocol.
 */
import { checkGrounding } from '../../src/agent/grounding';
import { COMPACT_PROFILE, getProfile, parseDatarus } from '../../src/protocol';

/** Placeholder wording small models were seen copying word for word. */
const ECHOED = [/what you will do next/i, /python code to/i, /your python code here/i, /explain what you're going to do/i, /the answer, concise/i, /\.\.\./];

describe('compact prompt profile', () => {
  it('is registered and keeps the generic conversation around its own prompt and after-step turn', () => {
    expect(getProfile('compact')).toBe(COMPACT_PROFILE);
    expect(COMPACT_PROFILE.observationPlacement).toBe('after-step');
    expect(COMPACT_PROFILE.afterStep).toMatch(/If it is the value the question asks for, computed from all rows, write the final/);
  });

  it('has no placeholder text to echo', () => {
    for (const text of [COMPACT_PROFILE.systemPrompt, COMPACT_PROFILE.afterStep]) {
      for (const pattern of ECHOED) {
        expect({ pattern: String(pattern), found: pattern.test(text) }).toEqual({ pattern: String(pattern), found: false });
      }
    }
  });

  it('shows a step of real, runnable code and a final turn that parse as the protocol', () => {
    const prompt = COMPACT_PROFILE.systemPrompt;
    const steps = [...prompt.matchAll(/<step>[\s\S]*?<\/step>/g)].map(m => parseDatarus(m[0]));
    expect(steps).toHaveLength(1);
    for (const parsed of steps) {
      expect(parsed.violations).toEqual([]);
      expect(parsed.steps[0].action).toBe('python_executor');
      expect(parsed.steps[0].code).toMatch(/print\(/);
      expect(parsed.steps[0].code).not.toMatch(/```/);
    }
    const final = parseDatarus(prompt.slice(prompt.indexOf('<stop_analysis>'), prompt.indexOf('</stop_analysis>') + '</stop_analysis>'.length));
    expect(final.violations).toEqual([]);
    // The step loads the file (found by a pattern, not a name) and computes each value over all rows, printed with a label.
    expect(steps[0].steps[0].code).toMatch(/^import glob\nimport pandas as pd\ndf = pd\.read_csv\(sorted\(glob\.glob\("\*\.csv"\)\)\[0\]\)\n[\s\S]*print\("complete_rows:", complete_rows\)\nprint\("largest_number:", largest_number\)$/);
    expect(prompt).not.toMatch(/head\(\)\)/);
    // The example's answer is grounded in its own observations, like any answer must be.
    const observations = [...prompt.matchAll(/<observation>([\s\S]*?)<\/observation>/g)].map(m => m[1]);
    expect(observations).toHaveLength(1);
    expect(checkGrounding(final.answer!.text, observations)).toEqual({ grounded: true, unsupported: [] });
  });

  it('shows no concrete names a model could paste into an unrelated answer', () => {
    const example = COMPACT_PROFILE.systemPrompt.slice(0, COMPACT_PROFILE.systemPrompt.indexOf('Rules:'));
    // Capitalized words of the example are the prompt's own English and tags, never data values (a city, a product).
    const words = new Set([...example.matchAll(/\b[A-Z][a-z]+\b/g)].map(m => m[0]));
    expect([...words].sort()).toEqual(['Answer', 'First', 'Here', 'How', 'Jupyter', 'Python', 'Read', 'The', 'You']);
  });

  it("names no file and no column a model could copy: the example's code indexes no column and reads no named file", () => {
    const prompt = COMPACT_PROFILE.systemPrompt;
    const example = prompt.slice(prompt.indexOf('Here is a complete example'), prompt.indexOf('Rules:'));
    // A file name: a word with a data extension (the glob pattern "*.csv" is none).
    expect(example.match(/\b[\w-]+\.(csv|tsv|parquet|xlsx|xls)\b/gi)).toBeNull();
    const code = parseDatarus(example.slice(example.indexOf('<step>'), example.indexOf('</step>') + '</step>'.length)).steps[0].code;
    // A column: df["x"], df['x'], df.x (methods aside), or a list of names printed in the observation.
    expect(code).not.toMatch(/df\[\s*["']/);
    expect(code.match(/\bdf\.(\w+)/g)!.map(m => m.slice(3)).filter(a => !['notna', 'select_dtypes'].includes(a))).toEqual([]);
    expect(example).not.toMatch(/\[\s*'[^']*'\s*,/);
  });
});
