/**
 * The starter benchmark's questions and its answer check.
 */
import { answerMatches, makeStarterData, numbersIn } from '../../src/bench/starterTasks';

describe('starter benchmark data', () => {
  it('is the same on every run and has ten original and five user-phrased questions with one right answer each', () => {
    const a = makeStarterData();
    const b = makeStarterData();
    expect(a).toEqual(b);
    expect(a.tasks.filter(t => t.set === 'original')).toHaveLength(10);
    expect(a.tasks.filter(t => t.set === 'user')).toHaveLength(5);
    expect(new Set(a.tasks.map(t => t.id)).size).toBe(15);
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

describe('user-phrased questions', () => {
  it('name no snake_case column of the files, and the shop file has no revenue column to read', () => {
    const { files, tasks } = makeStarterData();
    expect(files['store_sales.csv'].split('\n')[0]).toBe('date,region,product,units,unit_price');
    const columns = new Set(Object.values(files).flatMap(text => text.split('\n')[0].split(',')));
    for (const task of tasks.filter(t => t.set === 'user')) {
      const words = task.question.toLowerCase().match(/[a-z_]+/g)!;
      expect({ id: task.id, columns: words.filter(w => columns.has(w) && w.includes('_')) }).toEqual({ id: task.id, columns: [] });
      expect(task.question).not.toMatch(/unit_price|customer_id|amount|revenue column/);
    }
  });

  it('computes the top region and its revenue as units × unit price from the CSV text', () => {
    const { files, tasks } = makeStarterData();
    const rows = files['store_sales.csv'].trim().split('\n').slice(1).map(l => l.split(','));
    const byRegion = new Map<string, number>();
    for (const r of rows) {
      byRegion.set(r[1], (byRegion.get(r[1]) ?? 0) + Number(r[3]) * Math.round(Number(r[4]) * 100));
    }
    const [region, cents] = [...byRegion.entries()].sort((a, b) => b[1] - a[1])[0];
    const expected = tasks.find(t => t.id === 'u-top-region')!.expected;
    expect(expected).toEqual({ kind: 'all', parts: [expect.objectContaining({ kind: 'choice', value: region }), { kind: 'number', value: cents / 100 }] });
    expect(answerMatches(`${region}, with ${(cents / 100).toFixed(2)} in revenue.`, expected)).toBe(true);
    expect(answerMatches(`${region}, with 50,000 in revenue.`, expected)).toBe(false);
    expect(answerMatches(`The revenue was ${(cents / 100).toFixed(2)}.`, expected)).toBe(false);
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
