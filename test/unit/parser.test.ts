import {
  DatarusStreamParser,
  formatAnswer,
  formatObservation,
  formatStep,
  parseDatarus,
  ParseEvent,
  ViolationKind
} from '../../src/protocol';

const kinds = (text: string) => parseDatarus(text).violations.map(v => v.kind);

const STEP = formatStep({ thought: 'Load the data.', code: "import pandas as pd\ndf = pd.read_csv('a.csv')" });
const ANSWER = formatAnswer({ thought: 'The sum is 6.', text: '6' });

describe('DatarusStreamParser on well-formed output', () => {
  it('parses a step and an answer with no violations', () => {
    const result = parseDatarus(`${STEP}\n${ANSWER}`);
    expect(result.violations).toEqual([]);
    expect(result.steps).toEqual([
      { thought: 'Load the data.', action: 'python_executor', code: "import pandas as pd\ndf = pd.read_csv('a.csv')" }
    ]);
    expect(result.answer).toEqual({ thought: 'The sum is 6.', text: '6' });
  });

  it('emits thought, code and step events in order, as soon as each closes', () => {
    const parser = new DatarusStreamParser();
    const seen: ParseEvent['type'][] = [];
    const cut1 = STEP.indexOf('</thought>') + '</thought>'.length;
    seen.push(...parser.feed(STEP.slice(0, cut1 - 1)).map(e => e.type));
    expect(seen).toEqual([]);
    seen.push(...parser.feed(STEP.slice(cut1 - 1, cut1)).map(e => e.type));
    expect(seen).toEqual(['thought']);
    const cut2 = STEP.indexOf('</action_input>') + '</action_input>'.length;
    seen.push(...parser.feed(STEP.slice(cut1, cut2)).map(e => e.type));
    expect(seen).toEqual(['thought', 'code']);
    seen.push(...parser.feed(STEP.slice(cut2)).map(e => e.type));
    expect(seen).toEqual(['thought', 'code', 'step']);
    seen.push(...parser.feed(ANSWER).map(e => e.type));
    expect(seen).toEqual(['thought', 'code', 'step', 'answer']);
    expect(parser.end()).toEqual([]);
  });

  it('shows the leaf being written while it streams', () => {
    const parser = new DatarusStreamParser();
    parser.feed('<step><thought>Look at the col');
    expect(parser.partial).toEqual({ leaf: 'thought', text: 'Look at the col', container: 'step' });
  });

  it('keeps comparison operators and HTML strings inside code', () => {
    const code = 'x = [i for i in range(9) if i<3 and i >1]\nhtml = "<b>bold</b><step>"\nprint(x, html)';
    const result = parseDatarus(formatStep({ thought: 't', code }));
    expect(result.steps[0].code).toBe(code);
    expect(result.violations).toEqual([]);
  });

  it('accepts harness observations when asked and flags them otherwise', () => {
    const text = `${STEP}\n${formatObservation('6')}\n${ANSWER}`;
    const asHarness = parseDatarus(text, { harnessObservations: true });
    expect(asHarness.violations).toEqual([]);
    expect(asHarness.steps[0].observation).toBe('6');
    expect(kinds(text)).toEqual(['fabricated_observation']);
    expect(parseDatarus(text).steps[0].observation).toBeUndefined();
  });
});

describe('DatarusStreamParser on real-world defects', () => {
  const cases: [string, string, ViolationKind[]][] = [
    ['wrong tag case', '<Step><THOUGHT>t</THOUGHT><action>python_executor</action><action_input>print(1)</action_input></Step>', ['tag_case']],
    ['missing <step>', '<thought>t</thought><action>python_executor</action><action_input>print(1)</action_input></step>', ['missing_open_tag']],
    ['missing <thought>', '<step>\nLoad it</thought><action>python_executor</action><action_input>print(1)</action_input></step>', ['missing_open_tag']],
    ['code fence', '<step><thought>t</thought><action>python_executor</action><action_input>\n```python\nprint(1)\n```\n</action_input></step>', ['code_fence']],
    ['leading </think>', 'I should sum x.\n</think>\n<step><thought>t</thought><action>python_executor</action><action_input>print(1)</action_input></step>', []],
    ['unclosed step at the end', '<step><thought>t</thought><action>python_executor</action><action_input>print(1)</action_input>', ['truncated']],
    ['code cut off', '<step><thought>t</thought><action>python_executor</action><action_input>print(', ['truncated', 'truncated']],
    ['fabricated observation', `${STEP}<observation>42</observation>`, ['fabricated_observation']],
    ['empty code', '<step><thought>t</thought><action>python_executor</action><action_input>  \n </action_input></step>', ['empty_code']],
    ['no action input', '<step><thought>t</thought><action>python_executor</action></step>', ['empty_code']],
    ['unknown action', '<step><thought>t</thought><action>web_search</action><action_input>q</action_input></step>', ['unknown_action']],
    ['no structure', 'The answer is 6.', ['text_outside_tags', 'no_structure']],
    ['empty text', '', ['no_structure']],
    ['text outside tags', `Sure! Here is the step:\n${STEP}`, ['text_outside_tags']],
    ['two code blocks', '<step><thought>t</thought><action>python_executor</action><action_input>a=1</action_input><action_input>b=2</action_input></step>', ['multiple_actions']],
    ['unclosed thought', '<step><thought>t<action>python_executor</action><action_input>print(1)</action_input></step>', ['unclosed_tag']],
    ['stray close', `${STEP}</step>`, ['stray_close_tag']],
    ['step after answer', `${ANSWER}${STEP}`, ['content_after_answer']],
    ['answer without stop_analysis', '<answer>6</answer>', ['missing_open_tag']]
  ];

  it.each(cases)('%s', (_name, text, expected) => {
    expect(kinds(text)).toEqual(expected);
  });

  it('keeps the step when <step> is missing and the thought when <thought> is missing', () => {
    const result = parseDatarus('<step>\nLoad it</thought><action>python_executor</action><action_input>print(1)</action_input></step>');
    expect(result.steps).toEqual([{ thought: 'Load it', action: 'python_executor', code: 'print(1)' }]);
  });

  it('removes fences and the common indentation of the code', () => {
    const result = parseDatarus('<step><thought>t</thought><action>python_executor</action><action_input>\n    ```py\n    for i in range(2):\n        print(i)\n    ```\n</action_input></step>');
    expect(result.steps[0].code).toBe('for i in range(2):\n    print(i)');
  });

  it('treats reasoning before a leading </think> as reasoning, not a violation', () => {
    const result = parseDatarus(`Let me think.</think>${STEP}`);
    expect(result.reasoning).toBe('Let me think.');
    expect(result.violations).toEqual([]);
  });

  it('discards the content of a fabricated observation', () => {
    const result = parseDatarus(`${STEP}<observation>42</observation>${ANSWER}`);
    expect(JSON.stringify(result)).not.toContain('42');
    expect(result.answer).toEqual({ thought: 'The sum is 6.', text: '6' });
  });

  it('still returns the code of a truncated step so the harness can decide', () => {
    const result = parseDatarus('<step><thought>t</thought><action>python_executor</action><action_input>print(1)\n</action_input>');
    expect(result.steps[0].code).toBe('print(1)');
  });

  it('ignores everything fed after end()', () => {
    const parser = new DatarusStreamParser();
    parser.feed(STEP);
    parser.end();
    expect(parser.feed(STEP)).toEqual([]);
    expect(parser.result().steps).toHaveLength(1);
  });
});
