import fc from 'fast-check';

import {
  accuracy,
  answerEquals,
  extractAnswers,
  parseLabels,
  parseTasks,
  pythonFloat,
  scoreTask,
  taskPrompt,
  TaskFileError
} from '../../src/headless/dabench';

describe('DABench answers', () => {
  it('extracts @name[value] answers; a name given twice keeps its last value', () => {
    expect(extractAnswers('The mean is @mean[3.5] and the count @count[12].')).toEqual({ mean: '3.5', count: '12' });
    expect(extractAnswers('@x[1] then again @x[2]')).toEqual({ x: '2' });
    expect(extractAnswers('@a[] @b[  spaced ] @c[with [inner]')).toEqual({ a: '', b: '  spaced ', c: 'with [inner' });
    expect(extractAnswers('no answers here, @ alone, @name without brackets')).toEqual({});
  });

  it('compares as the benchmark does: the same string, or numbers less than 1e-6 apart', () => {
    expect(answerEquals('abc', 'abc')).toBe(true);
    expect(answerEquals('Abc', 'abc')).toBe(false);
    expect(answerEquals('0.50', '0.5')).toBe(true);
    expect(answerEquals(' 2 ', '2.0')).toBe(true); // Python's float() strips whitespace
    expect(answerEquals('1_000', '1000')).toBe(true);
    expect(answerEquals('1e-3', '0.001')).toBe(true);
    expect(answerEquals('0.1234567', '0.1234568')).toBe(true);
    expect(answerEquals('0.12345', '0.12346')).toBe(false);
    expect(answerEquals('nan', 'nan')).toBe(true); // equal strings
    expect(answerEquals('NaN', 'nan')).toBe(false); // as floats nan never equals
    expect(answerEquals('inf', 'Infinity')).toBe(false); // |inf − inf| is nan in Python
    expect(answerEquals('1,000', '1000')).toBe(false);
    expect(answerEquals(undefined, '1')).toBe(false);
  });

  it("parses numbers the way Python's float() does", () => {
    expect(pythonFloat('.5')).toBe(0.5);
    expect(pythonFloat('5.')).toBe(5);
    expect(pythonFloat('-1.5E+2')).toBe(-150);
    expect(pythonFloat('1__0')).toBeNull();
    expect(pythonFloat('0x10')).toBeNull();
    expect(pythonFloat('')).toBeNull();
    expect(pythonFloat('-inf')).toBe(-Infinity);
  });

  it('a number written any way Python writes it equals itself', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 }), x => {
        expect(answerEquals(String(x), x.toExponential())).toBe(true);
        expect(answerEquals(` ${x} `, String(x))).toBe(true);
      })
    );
  });

  it('scores a task: all right, some right, none, and no answer at all', () => {
    const label = { id: '7', common_answers: [['a', '1'], ['b', '2.5']] as [string, string][] };
    expect(scoreTask('@a[1] @b[2.50]', label)).toMatchObject({ correct: true, fraction: 1, correctness: { a: true, b: true } });
    expect(scoreTask('@a[1] @b[3]', label)).toMatchObject({ correct: false, fraction: 0.5 });
    expect(scoreTask('@c[1]', label)).toMatchObject({ correct: false, fraction: 0, predicted: { c: '1' } });
    expect(scoreTask(null, label)).toMatchObject({ correct: false, fraction: 0, predicted: {} });
  });

  it('computes the three accuracies of the benchmark', () => {
    const s = (correctness: Record<string, boolean>) => scoreTask(
      Object.entries(correctness).map(([k, v]) => `@${k}[${v ? 'y' : 'n'}]`).join(' '),
      { id: 'x', common_answers: Object.keys(correctness).map(k => [k, 'y'] as [string, string]) }
    );
    const result = accuracy([s({ a: true }), s({ a: true, b: false }), s({ a: false, b: false })]);
    expect(result.questions).toBe(3);
    expect(result.byQuestion).toBeCloseTo(1 / 3, 12);
    expect(result.bySubQuestion).toBeCloseTo(2 / 5, 12);
    expect(result.proportional).toBeCloseTo(1.5 / 3, 12);
    expect(accuracy([])).toEqual({ questions: 0, byQuestion: 0, bySubQuestion: 0, proportional: 0 });
  });

  it('keeps the accuracies in [0, 1], by question never above proportional, and all 1 exactly when every answer is right', () => {
    const task = fc.array(fc.boolean(), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(fc.array(task, { minLength: 1, maxLength: 20 }), tasks => {
        const scores = tasks.map((answers, i) =>
          scoreTask(answers.map((right, j) => `@n${j}[${right ? j : 'wrong'}]`).join(' '), { id: String(i), common_answers: answers.map((_, j) => [`n${j}`, String(j)] as [string, string]) })
        );
        const a = accuracy(scores);
        for (const value of [a.byQuestion, a.bySubQuestion, a.proportional]) {
          expect(value).toBeGreaterThanOrEqual(0);
          expect(value).toBeLessThanOrEqual(1);
        }
        expect(a.byQuestion).toBeLessThanOrEqual(a.proportional + 1e-12);
        const allRight = tasks.every(t => t.every(Boolean));
        expect(a.byQuestion === 1).toBe(allRight);
        expect(a.bySubQuestion === 1).toBe(allRight);
      })
    );
  });
});

describe('DABench files', () => {
  it('reads questions and labels; ids may be numbers', () => {
    const tasks = parseTasks('{"id": 0, "question": "Q?", "constraints": "C.", "format": "@x[v]", "file_name": "a.csv", "level": "easy", "concepts": ["Stats"]}\n\n');
    expect(tasks).toEqual([{ id: '0', question: 'Q?', constraints: 'C.', format: '@x[v]', file_name: 'a.csv', level: 'easy', concepts: ['Stats'] }]);
    const labels = parseLabels('{"id": 0, "common_answers": [["x", "1.5"], ["y", 2]]}\n');
    expect(labels.get('0')).toEqual({ id: '0', common_answers: [['x', '1.5'], ['y', '2']] });
  });

  it('names the file and line of every problem', () => {
    expect(() => parseTasks('{"id": 1, "question": "a"}\n{"id": 1, "question": "b"}\n', 't.jsonl')).toThrow('t.jsonl line 2: id 1 was already used on line 1');
    expect(() => parseTasks('{"id": 1, "question": "a"}\n\n{"id": 2,\n', 't.jsonl')).toThrow(/^t\.jsonl line 3: not valid JSON/);
    expect(() => parseTasks('[1, 2]\n', 't.jsonl')).toThrow('t.jsonl line 1: expected a JSON object');
    expect(() => parseTasks('{"id": 1}\n', 't.jsonl')).toThrow('t.jsonl line 1: "question" must be a non-empty string');
    expect(() => parseTasks('{"question": "a"}\n', 't.jsonl')).toThrow('t.jsonl line 1: "id" must be a number or a non-empty string');
    expect(() => parseTasks('{"id": 1, "question": "a", "file_name": 3}\n', 't.jsonl')).toThrow('t.jsonl line 1: "file_name" must be a string');
    expect(() => parseTasks('\n', 't.jsonl')).toThrow('t.jsonl: no tasks');
    expect(() => parseLabels('{"id": 1, "common_answers": [["x"]]}\n', 'l.jsonl')).toThrow('l.jsonl line 1: "common_answers" must be a list of [name, value] pairs');
    expect(() => parseTasks('{', 't')).toThrow(TaskFileError);
  });

  it('puts the question, its constraints and the answer format in the prompt', () => {
    const prompt = taskPrompt({ id: '1', question: ' Mean price? ', constraints: 'Round to 2 places.', format: '@mean[value]' });
    expect(prompt).toBe(
      'Mean price?\n\nConstraints: Round to 2 places.\n\nWrite the final answer in exactly this format (each value in its @name[...] brackets): @mean[value]'
    );
    expect(taskPrompt({ id: '1', question: 'Q?' })).toBe('Q?');
  });
});
