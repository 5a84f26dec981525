/**
 * The `compact` prompt profile for small models: nothing in it is placeholder
 * text a model could echo, and its worked example is itself valid protocol.
 */
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
    // The worked step computes the answer over the whole frame; it never prints a few rows to answer from.
    expect(steps[0].steps[0].code).toMatch(/print\(df\.columns\.tolist\(\)\)/);
    expect(steps[0].steps[0].code).toMatch(/value_counts\(\)\.idxmax\(\)/);
    expect(prompt).not.toMatch(/print\(df\.head\(\)\)/);
    // The example's answer is a name that no data question of the user's is about, not a number to copy.
    expect(final.answer?.text).toBe('Lisbon has the most rows in example.csv.');
  });
});
