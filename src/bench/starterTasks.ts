/**
 * The starter benchmark's data questions: CSV files generated from a fixed
 * seed, questions about them, the known answers computed here (money in whole
 * cents, so sums are exact), and the check of a model's final answer.
 *
 * Two sets: the `original` ten name the columns they need ("total revenue",
 * "units"), and the `user` questions are phrased as a user would ask them,
 * without column names, about a file whose revenue must be computed as units ×
 * unit price.
 */

export type Expected =
  | { kind: 'number'; value: number }
  | { kind: 'choice'; value: string; candidates: readonly string[] }
  /** Every part must be in the answer (a name and its value). */
  | { kind: 'all'; parts: Expected[] };

export type TaskSet = 'original' | 'user';

export interface StarterTask {
  id: string;
  set: TaskSet;
  question: string;
  expected: Expected;
}

export interface StarterData {
  /** File name → CSV text, written into the kernel's working folder. */
  files: Record<string, string>;
  tasks: StarterTask[];
}

const REGIONS = ['North', 'South', 'East', 'West'] as const;
/** Weighted so one product is clearly the most frequent. */
const PRODUCTS = [
  { name: 'Widget', priceCents: 1250, weight: 4 },
  { name: 'Gadget', priceCents: 3999, weight: 2 },
  { name: 'Gizmo', priceCents: 875, weight: 2 },
  { name: 'Doohickey', priceCents: 2420, weight: 1 }
] as const;
const SEGMENTS = ['Consumer', 'Enterprise', 'SMB'] as const;

/** mulberry32: a small seeded PRNG, so every run asks about the same data. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cents = (c: number) => (c / 100).toFixed(2);
const isoDay = (dayOfYear: number) => new Date(Date.UTC(2024, 0, 1 + dayOfYear)).toISOString().slice(0, 10);

/** The one key with the largest value; throws on a tie so a question never has two right answers. */
function argmax(totals: Map<string, number>): string {
  const sorted = [...totals.entries()].sort((a, b) => b[1] - a[1]);
  if (sorted.length > 1 && sorted[0][1] === sorted[1][1]) {
    throw new Error(`tie between ${sorted[0][0]} and ${sorted[1][0]}`);
  }
  return sorted[0][0];
}

function sumBy<T>(rows: T[], key: (r: T) => string, value: (r: T) => number): Map<string, number> {
  const totals = new Map<string, number>();
  for (const r of rows) {
    totals.set(key(r), (totals.get(key(r)) ?? 0) + value(r));
  }
  return totals;
}

export function makeStarterData(seed = 20241126): StarterData {
  const rand = random(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(rand() * items.length)];
  const weighted = PRODUCTS.flatMap(p => Array.from({ length: p.weight }, () => p));

  const sales = Array.from({ length: 200 }, (_, i) => {
    const product = pick(weighted);
    const units = 1 + Math.floor(rand() * 20);
    return { id: i + 1, date: isoDay(Math.floor(rand() * 182)), region: pick(REGIONS), product: product.name, units, unitCents: product.priceCents, revenueCents: units * product.priceCents };
  }).sort((a, b) => a.date.localeCompare(b.date) || a.id - b.id);
  const customers = Array.from({ length: 30 }, (_, i) => ({ id: `C${String(i + 1).padStart(3, '0')}`, segment: pick(SEGMENTS) }));
  const orders = Array.from({ length: 120 }, (_, i) => ({
    id: 5001 + i,
    customer: pick(customers).id,
    date: isoDay(Math.floor(rand() * 182)),
    amountCents: 500 + Math.floor(rand() * 49500)
  }));

  const files: Record<string, string> = {
    'sales.csv': ['sale_id,date,region,product,units,unit_price,revenue', ...sales.map(s => `${s.id},${s.date},${s.region},${s.product},${s.units},${cents(s.unitCents)},${cents(s.revenueCents)}`)].join('\n') + '\n',
    'customers.csv': ['customer_id,segment', ...customers.map(c => `${c.id},${c.segment}`)].join('\n') + '\n',
    'orders.csv': ['order_id,customer_id,order_date,amount', ...orders.map(o => `${o.id},${o.customer},${o.date},${cents(o.amountCents)}`)].join('\n') + '\n'
  };

  const segmentOf = new Map(customers.map(c => [c.id, c.segment]));
  const total = (rows: { revenueCents: number }[]) => rows.reduce((s, r) => s + r.revenueCents, 0) / 100;
  const widgets = sales.filter(s => s.product === 'Widget');
  const number = (value: number): Expected => ({ kind: 'number', value });

  // A shop's sales as a user's export has them: no revenue column. Drawn after the files above, so they stay the same.
  const shop = Array.from({ length: 150 }, (_, i) => {
    const product = pick(weighted);
    const units = 1 + Math.floor(rand() * 12);
    return { id: i + 1, date: isoDay(Math.floor(rand() * 120)), region: pick(REGIONS), product: product.name, units, unitCents: product.priceCents };
  }).sort((a, b) => a.date.localeCompare(b.date) || a.id - b.id);
  const shopRevenue = (r: (typeof shop)[number]) => r.units * r.unitCents;
  const shopByRegion = sumBy(shop, r => r.region, shopRevenue);
  const topRegion = argmax(shopByRegion);
  files['store_sales.csv'] =
    ['date,region,product,units,unit_price', ...shop.map(r => `${r.date},${r.region},${r.product},${r.units},${cents(r.unitCents)}`)].join('\n') + '\n';

  const original: Omit<StarterTask, 'set'>[] = [
    { id: 'sum', question: 'What is the total revenue in sales.csv?', expected: number(total(sales)) },
    {
      id: 'groupby-max',
      question: 'In sales.csv, which region has the highest total revenue?',
      expected: { kind: 'choice', value: argmax(sumBy(sales, s => s.region, s => s.revenueCents)), candidates: REGIONS }
    },
    {
      id: 'mean',
      question: 'In sales.csv, what is the average number of units per sale for the product Widget?',
      expected: number(widgets.reduce((s, r) => s + r.units, 0) / widgets.length)
    },
    { id: 'count', question: 'How many sales in sales.csv are in the North region?', expected: number(sales.filter(s => s.region === 'North').length) },
    { id: 'max', question: 'What is the largest single revenue value in sales.csv?', expected: number(Math.max(...sales.map(s => s.revenueCents)) / 100) },
    { id: 'filter', question: 'How many sales in sales.csv sold more than 15 units?', expected: number(sales.filter(s => s.units > 15).length) },
    {
      id: 'date-range',
      question: 'What was the total revenue in sales.csv for sales dated in March 2024?',
      expected: number(total(sales.filter(s => s.date.startsWith('2024-03'))))
    },
    {
      id: 'join',
      question: 'orders.csv lists orders by customer_id and customers.csv gives each customer a segment. What is the total order amount from customers in the Enterprise segment?',
      expected: number(orders.filter(o => segmentOf.get(o.customer) === 'Enterprise').reduce((s, o) => s + o.amountCents, 0) / 100)
    },
    {
      id: 'count-max',
      question: 'Which product appears in the most rows of sales.csv?',
      expected: { kind: 'choice', value: argmax(sumBy(sales, s => s.product, () => 1)), candidates: PRODUCTS.map(p => p.name) }
    },
    { id: 'mean-orders', question: 'What is the mean order amount in orders.csv?', expected: number(orders.reduce((s, o) => s + o.amountCents, 0) / orders.length / 100) }
  ];
  const user: Omit<StarterTask, 'set'>[] = [
    {
      id: 'u-top-region',
      question: 'Using store_sales.csv, which region had the highest total revenue, and how much?',
      expected: { kind: 'all', parts: [{ kind: 'choice', value: topRegion, candidates: REGIONS }, number(shopByRegion.get(topRegion)! / 100)] }
    },
    {
      id: 'u-best-product',
      question: 'Which product brought in the most money in store_sales.csv?',
      expected: { kind: 'choice', value: argmax(sumBy(shop, r => r.product, shopRevenue)), candidates: PRODUCTS.map(p => p.name) }
    },
    {
      id: 'u-west-units',
      question: 'How many items did we sell in the West? The sales are in store_sales.csv.',
      expected: number(shop.filter(r => r.region === 'West').reduce((s, r) => s + r.units, 0))
    },
    { id: 'u-customers', question: 'How many different customers have ordered from us? See orders.csv.', expected: number(new Set(orders.map(o => o.customer)).size) },
    {
      id: 'u-enterprise',
      question: 'How much did our enterprise customers spend in total? Orders are in orders.csv, customers in customers.csv.',
      expected: number(orders.filter(o => segmentOf.get(o.customer) === 'Enterprise').reduce((s, o) => s + o.amountCents, 0) / 100)
    }
  ];
  const tasks: StarterTask[] = [...original.map(t => ({ ...t, set: 'original' as const })), ...user.map(t => ({ ...t, set: 'user' as const }))];
  return { files, tasks };
}

/** Numbers written in a text: `25,864.65`, `$1,234`, `-3.5`, `1.2e3`; thousands commas only in groups of three. */
export function numbersIn(text: string): { value: number; decimals: number }[] {
  const found: { value: number; decimals: number }[] = [];
  const pattern = /-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:[eE][+-]?\d+)?/g;
  for (const match of text.matchAll(pattern)) {
    const value = Number(match[0].replace(/,/g, ''));
    if (Number.isFinite(value)) {
      found.push({ value, decimals: /[eE]/.test(match[0]) ? 12 : (match[1]?.length ?? 0) });
    }
  }
  return found;
}

/**
 * Whether a final answer gives the expected value (every part of an `all`). A number matches when it
 * equals the value at the precision it is written with and is within 0.5% of
 * it (so `7` does not pass for 7.23, but `25,865` passes for 25,864.65). A
 * choice matches when the right name is the first of the candidates mentioned.
 */
export function answerMatches(answer: string, expected: Expected): boolean {
  if (expected.kind === 'all') {
    return expected.parts.every(part => answerMatches(answer, part));
  }
  if (expected.kind === 'number') {
    const v = expected.value;
    return numbersIn(answer).some(({ value, decimals }) => {
      const diff = Math.abs(value - v);
      return diff <= 0.5 * 10 ** -decimals + 1e-9 && diff <= 0.005 * Math.abs(v) + 1e-9;
    });
  }
  let first: { name: string; at: number } | null = null;
  for (const name of expected.candidates) {
    const at = answer.search(new RegExp(`\\b${name}\\b`, 'i'));
    if (at >= 0 && (first === null || at < first.at)) {
      first = { name, at };
    }
  }
  return first?.name === expected.value;
}
