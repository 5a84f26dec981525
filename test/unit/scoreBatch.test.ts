/**
 * `datarus score --batch`, the scorer the Python reward functions call: one
 * answer line per question line, in step even for lines it cannot read.
 */
import { PassThrough } from 'node:stream';

import { scoreBatch, scoreLine } from '../../src/cli/scoreBatch';
import { curriculumReward, formatAnswer, formatStep, scoreText } from '../../src/protocol';

const TEXT = `${formatStep({ thought: 'Mean.', code: 'print(df.price.mean())' })}\n${formatAnswer({ thought: 'It printed 11.71.', text: 'The mean is @mean_price[11.71].' })}`;

describe('scoreLine', () => {
  it('gives the structural reward of the text, as `datarus score` does', () => {
    const answer = scoreLine(JSON.stringify({ text: TEXT })) as Record<string, unknown>;
    const expected = scoreText(TEXT);
    expect(answer).toEqual({ structural: expected.score, parts: expected.parts, violations: [], answer: null, answer_correct: null, reward: null });
  });

  it('scores the final answer against labels given as an object or as pairs, ignoring null names', () => {
    expect(scoreLine(JSON.stringify({ text: TEXT, label_answers: { mean_price: '11.71' } }))).toMatchObject({ answer: 1, answer_correct: true });
    expect(scoreLine(JSON.stringify({ text: TEXT, label_answers: [['mean_price', 11.7]] }))).toMatchObject({ answer: 0, answer_correct: false });
    // A dataset column of structs fills the names another row has with null.
    expect(scoreLine(JSON.stringify({ text: TEXT, label_answers: { mean_price: '11.71', row_count: null } }))).toMatchObject({ answer: 1 });
    expect(scoreLine(JSON.stringify({ text: TEXT, label_answers: { row_count: null } }))).toMatchObject({ answer: null });
    // No answer at all is a wrong answer, not an absent one.
    expect(scoreLine(JSON.stringify({ text: 'prose', label_answers: { mean_price: '11.71' } }))).toMatchObject({ structural: 0, answer: 0 });
  });

  it('mixes by the curriculum when given the progress: the semantic score given, else the answer match', () => {
    const structural = scoreText(TEXT).score;
    expect(scoreLine(JSON.stringify({ text: TEXT, label_answers: { mean_price: '1' }, progress: 0.5, w0: 0, w1: 1 }))).toMatchObject({ reward: curriculumReward(structural, 0, 0.5, { w0: 0, w1: 1 }) });
    expect(scoreLine(JSON.stringify({ text: TEXT, semantic: 0.25, progress: 1, w0: 0, w1: 1 }))).toMatchObject({ reward: 0.25 });
    // Nothing semantic to mix in: no reward rather than a made-up one.
    expect(scoreLine(JSON.stringify({ text: TEXT, progress: 0.5 }))).toMatchObject({ reward: null });
  });

  it.each([
    ['not json', 'not valid JSON'],
    ['[1]', 'each line must be a JSON object'],
    ['{"text": 3}', '"text" must be a string'],
    ['{"text": "", "label_answers": "x"}', '"label_answers" must be'],
    ['{"text": "", "label_answers": {"a": [1]}}', 'the label "a" must be a string or a number'],
    ['{"text": "", "progress": "half"}', '"progress" must be a number'],
    ['{"text": "", "semantic": 0.5, "progress": 0.5, "w1": 3}', "the curriculum's w1 must be"]
  ])('answers %s with an error line', (line, message) => {
    expect((scoreLine(line) as { error: string }).error).toContain(message);
  });
});

describe('scoreBatch', () => {
  it('answers each line as it arrives, skipping blank lines', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const answers: string[] = [];
    output.on('data', chunk => answers.push(...String(chunk).split('\n').filter(Boolean)));
    const done = scoreBatch(input, output);
    input.write(JSON.stringify({ text: TEXT }) + '\n');
    await new Promise(resolve => setTimeout(resolve, 50));
    // The first answer is out before the input ends.
    expect(answers).toHaveLength(1);
    input.end('\n\nbroken\n');
    expect(await done).toBe(2);
    expect(JSON.parse(answers[0]).structural).toBe(scoreText(TEXT).score);
    expect(JSON.parse(answers[1]).error).toContain('not valid JSON');
  });
});
