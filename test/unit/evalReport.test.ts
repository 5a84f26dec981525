/**
 * What `datarus eval` reports beside the benchmark's three accuracies: its
 * breakdowns by level and concept, tokens per right answer, the chart, and the
 * answer a majority of votes gives.
 */
import { accuracyChart, majority, summarize, summaryMarkdown, TaskResult } from '../../src/headless/evaluate';
import type { DabenchLabel, DabenchTask } from '../../src/headless/dabench';

const task = (id: string, level: string, concepts: string[]): DabenchTask => ({ id, question: 'q', level, concepts });
const result = (id: string, correct: boolean, outcome: TaskResult['outcome'], tokens: number, seconds: number): TaskResult =>
  ({ id, outcome, correct, completionTokens: tokens, wallSeconds: seconds, steps: 1, errorsRecovered: 0, correctness: {}, fraction: correct ? 1 : 0, predicted: {} }) as unknown as TaskResult;

describe('the eval summary', () => {
  const tasks = [task('1', 'easy', ['Summary Statistics']), task('2', 'hard', ['Summary Statistics', 'Correlation Analysis']), task('3', 'hard', ['Correlation Analysis']), task('4', 'easy', [])];
  const labels = new Map<string, DabenchLabel>(tasks.map(t => [t.id, { id: t.id, common_answers: [] }]));
  const results = new Map([
    ['1', result('1', true, 'answered', 100, 10)],
    ['2', result('2', true, 'answered', 300, 30)],
    ['3', result('3', false, 'no_answer', 200, 20)],
    ['4', result('4', false, 'error', 0, 1)]
  ]);
  const summary = summarize(tasks, results, labels, 60);

  it('breaks accuracy down by level and by concept (a task with two concepts counts in both)', () => {
    expect(summary.byLevel).toEqual({ easy: { questions: 1, right: 1, accuracy: 1 }, hard: { questions: 2, right: 1, accuracy: 0.5 } });
    expect(summary.byConcept).toEqual({ 'Correlation Analysis': { questions: 2, right: 1, accuracy: 0.5 }, 'Summary Statistics': { questions: 2, right: 2, accuracy: 1 } });
  });

  it('counts every finished task\'s tokens per right answer, the no-answer share and the median time', () => {
    expect(summary.tokensPerRightAnswer).toBe(300);
    expect(summary.noAnswerShare).toBeCloseTo(1 / 3, 10);
    expect(summary.medianSeconds).toBe(20);
    const markdown = summaryMarkdown(summary);
    expect(markdown).toContain('| tokens per right answer | 300 |');
    expect(markdown).toContain('| Correlation Analysis | 2 | 1 | 50.00% |');
    expect(markdown).toContain('![accuracy by concept](accuracy-by-concept.svg)');
  });

  it('draws the chart as a standalone SVG with a bar per group, names escaped', () => {
    const svg = accuracyChart({ 'A & B': { questions: 4, right: 1, accuracy: 0.25 }, C: { questions: 2, right: 2, accuracy: 1 } }, 'Accuracy <by> concept');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).toContain('A &amp; B');
    expect(svg).toContain('Accuracy &lt;by&gt; concept');
    expect(svg.match(/<rect x=/g)).toHaveLength(2);
    expect(svg).toContain('25% (1/4)');
  });
});

describe('majority of votes', () => {
  it('counts answers by their @name[value] entries, in any order, ties to the earliest', () => {
    expect(majority(['@a[1] @b[2]', '@b[2] and @a[1]', '@a[3] @b[2]'])).toEqual({ chosen: 0, agreeing: 2 });
    expect(majority([null, '@a[3]', '@a[1]', '@a[1]'])).toEqual({ chosen: 2, agreeing: 2 });
    expect(majority(['@a[3]', '@a[1]'])).toEqual({ chosen: 0, agreeing: 1 });
    expect(majority(['East ', 'East', 'West'])).toEqual({ chosen: 0, agreeing: 2 });
    expect(majority([null, null])).toEqual({ chosen: -1, agreeing: 0 });
  });
});
