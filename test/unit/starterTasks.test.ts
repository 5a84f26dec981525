/**
 * The starter benchmark's questions and its answer check.
 */
import { answerMatches, makeStarterData, numbersIn } from '../../src/bench/starterTasks';

describe('starter benchmark data', () => {
  it('is the same on every run and has ten questions with one right answer each', () => {
    const a = makeStarterData();
    const b = makeStarterData();
    expect(a).toEqual(b);
    expect(a.tasks).toHaveLength(10);
    expect(new Set(a.tasks.map(t => t.id)).size).toBe(10);
    expect(a.files['sales.csv'].split('\n')[0]).toBe('sale_id,date,region,product,units,unit_price,revenue');
    expect(a.files['sales.csv'].trim().split('\n')).toHaveLength(201);
  });

  it('computes answers that agree with the CSV text', () => {
    const { files, tasks } = makeStarterData();
    const rows = files['sales.csv'].trim().split('\n').slice(1).map(l => l.split(','));
    const total = rows.reduce((s, r) => s + Math.round(Number(r[6]) * 100), 0) / 100;
    expect(tasks.find(t => t.id === 'sum')!.expected).toEqual({ kind: 'number', value: total });
    const north = rows.filter(r => r[2] === 'North').length;
    expect(tasks.find(t => t.id === 'count')!.expected).toEqual({ kind: 'number', value: north });
  });
});

describe('numbersIn', () => {
  it('reads thousands separators, currency, decimals and exponents, and splits lists', () => {
    expect(numbersIn('East, with $25,864.65 (about 1.2e3 rows)').map(n => n.value)).toEqual([25864.65, 1200]);
    expect(numbersIn('values 1,2,3').map(n => n.value)).toEqual([1, 2, 3]);
    expect(numbersIn('-3.50').map(n => [n.value, n.decimals])).toEqual([[-3.5, 2]]);
  });
});

describe('answerMatches', () => {
  const number = (value: number) => ({ kind: 'number' as const, value });
  it('accepts the value at the precision written, within 0.5%', () => {
    expect(answerMatches('The total revenue is 25,864.65.', number(25864.65))).toBe(true);
    expect(answerMatches('About 25,865 in total.', number(25864.65))).toBe(true);
    expect(answerMatches('7.23 units on average', number(7.2345))).toBe(true);
  });

  it('rejects wrong values, coarse roundings and answers without the number', () => {
    expect(answerMatches('The total is 25,864.66.', number(25864.65))).toBe(false);
    expect(answerMatches('About 26,000.', number(25864.65))).toBe(false);
    expect(answerMatches('About 7 units.', number(7.2345))).toBe(false);
    expect(answerMatches('The total is in the table above.', number(12))).toBe(false);
    expect(answerMatches('There are 41 sales.', number(42))).toBe(false);
  });

  it('accepts a choice only when it is the first candidate named', () => {
    const region = { kind: 'choice' as const, value: 'East', candidates: ['North', 'South', 'East', 'West'] };
    expect(answerMatches('East had the highest total revenue (25,864.65), ahead of West.', region)).toBe(true);
    expect(answerMatches('West is second; north is last.', region)).toBe(false);
    expect(answerMatches('Eastern stores lead.', region)).toBe(false);
    expect(answerMatches('north', region)).toBe(false);
  });
});
