/**
 * The newcomer replay's data and its check of an answer (src/bench/newcomer.ts).
 */
import { isRight, makeOrders, NEWCOMER_QUESTION } from '../../src/bench/newcomer';

describe('the newcomer replay', () => {
  it('writes the same 100 orders on every run, and its top city is the one the CSV text gives', () => {
    const orders = makeOrders();
    expect(makeOrders()).toEqual(orders);
    const lines = orders.csv.trim().split('\n');
    expect(lines[0]).toBe('city,qty,price');
    expect(lines).toHaveLength(101);
    const totals = new Map<string, number>();
    for (const [city, qty, price] of lines.slice(1).map(l => l.split(','))) {
      totals.set(city, (totals.get(city) ?? 0) + Number(qty) * Number(price));
    }
    const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]);
    expect(ranked[0][0]).toBe(orders.top);
    expect(ranked[0][1]).toBeCloseTo(orders.totalsCents[orders.top] / 100, 6);
  });

  it('refuses a seed whose top two cities are within 2%', () => {
    const nearTie = Array.from({ length: 200 }, (_, i) => i + 1).find(seed => {
      try {
        makeOrders(seed);
        return false;
      } catch {
        return true;
      }
    });
    expect(nearTie).toBeDefined();
  });

  it('asks without naming the file or a column', () => {
    expect(NEWCOMER_QUESTION).not.toMatch(/orders|\.csv|city,/i);
  });

  it('is right only when the answer names the top city first and a step ran', () => {
    const { top } = makeOrders();
    const other = top === 'Lyon' ? 'Porto' : 'Lyon';
    const ran = [{ status: 'ok' }] as any;
    const answer = (text: string) => ({ text }) as any;
    expect(isRight({ answer: answer(`${top} has the highest total (12485.06).`), steps: ran }, top)).toBe(true);
    expect(isRight({ answer: answer(`${other} is highest; ${top} is second.`), steps: ran }, top)).toBe(false);
    expect(isRight({ answer: answer(`${top} has the highest total.`), steps: [{ status: 'error' }] as any }, top)).toBe(false);
    expect(isRight({ answer: null, steps: ran }, top)).toBe(false);
    expect(isRight(null, top)).toBe(false);
  });
});
