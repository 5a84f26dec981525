/**
 * The answer-grounding check: the numbers and names a final answer states must
 * appear in what the episode printed, whatever the formatting.
 */
import { answerSources, checkGrounding } from '../../src/agent/grounding';

const PRINTED = `region
East     25864.650000000005
North    21011.30
South    19876.00
West     18002.45
Name: revenue, dtype: float64`;

describe('checkGrounding', () => {
  it('accepts a printed value written with thousands separators, a currency sign or rounded', () => {
    expect(checkGrounding('East had the highest total revenue, 25864.65.', [PRINTED]).grounded).toBe(true);
    expect(checkGrounding('East had the highest total revenue, $25,864.65.', [PRINTED]).grounded).toBe(true);
    expect(checkGrounding('The top region is East with about 25,865 in revenue.', [PRINTED]).grounded).toBe(true);
    expect(checkGrounding('The top region is East with about 25,864.7 in revenue.', [PRINTED]).grounded).toBe(true);
    expect(checkGrounding('East leads with 26,000 (rounded to thousands).', [PRINTED]).grounded).toBe(true);
    expect(checkGrounding('East leads with $25.9K.', [PRINTED]).grounded).toBe(true);
  });

  it('rejects numbers no output printed, and rounding that does not fit', () => {
    expect(checkGrounding('East had the highest total revenue, $50,000.', [PRINTED])).toEqual({ grounded: false, unsupported: ['$50,000'] });
    expect(checkGrounding('West with 123456.', [PRINTED])).toEqual({ grounded: false, unsupported: ['123456'] });
    expect(checkGrounding('East: 25,864.5', [PRINTED]).grounded).toBe(false);
    expect(checkGrounding('East: 25,860', [PRINTED]).grounded).toBe(false);
    // One significant digit is not a rounding of 45,000–55,000.
    expect(checkGrounding('About 20,000.', ['21011.30']).grounded).toBe(false);
  });

  it('reads printed values in scientific notation and answers in millions', () => {
    expect(checkGrounding('The total is 1,234,567.5.', ['1.2345675e+06']).grounded).toBe(true);
    expect(checkGrounding('The total is 1.23 million.', ['1234567.5']).grounded).toBe(true);
    expect(checkGrounding('The total is 1.24 million.', ['1234567.5']).grounded).toBe(false);
  });

  it('matches percentages to printed percentages and to printed fractions', () => {
    expect(checkGrounding('12.5% of sales are in the North.', ['North 12.5']).grounded).toBe(true);
    expect(checkGrounding('12.5% of sales are in the North.', ['North 0.125']).grounded).toBe(true);
    expect(checkGrounding('13% of sales are in the North.', ['North 0.125']).grounded).toBe(true);
    expect(checkGrounding('15% of sales are in the North.', ['North 0.125']).grounded).toBe(false);
  });

  it('compares negative numbers by magnitude, since a sign can be said in words', () => {
    expect(checkGrounding('Revenue changed by -3.2%.', ['-0.032']).grounded).toBe(true);
    expect(checkGrounding('Revenue fell by 3.2%.', ['-3.2']).grounded).toBe(true);
    expect(checkGrounding('Revenue fell by −4.1.', ['-3.2']).grounded).toBe(false);
  });

  it('takes numbers from the question and context as given, and ignores identifiers, ordinals and dates that were printed', () => {
    expect(checkGrounding('There were 12 sales of more than 15 units in March 2024.', ['12']).grounded).toBe(false);
    expect(checkGrounding('There were 12 sales of more than 15 units in March 2024.', ['12', 'How many sales sold more than 15 units in March 2024?']).grounded).toBe(true);
    expect(checkGrounding('Customer C001 is 1st, on 2024-03-05.', ['C001 2024-03-05']).grounded).toBe(true);
    expect(checkGrounding('The last sale was on 2024-06-30.', ['2024-06-29']).grounded).toBe(false);
  });

  it('checks names used mid-sentence against the outputs, case-insensitively', () => {
    expect(checkGrounding('The region with the highest revenue is East, with 25864.65.', [PRINTED]).grounded).toBe(true);
    expect(checkGrounding('The city with the most rows is Lisbon, with 12000.', [PRINTED])).toEqual({ grounded: false, unsupported: ['12000', 'Lisbon'] });
    expect(checkGrounding('The best product is the Widget.', ['product\nwidget    80'])).toEqual({ grounded: true, unsupported: [] });
  });

  it('accepts an answer with nothing to check, and rejects any number when nothing was printed', () => {
    expect(checkGrounding('The data has no missing values.', []).grounded).toBe(true);
    expect(checkGrounding('The mean is 4.2.', []).grounded).toBe(false);
  });
});

describe('answerSources', () => {
  const base = { index: 0, thought: '', code: '', violations: [], raw: '', startedAt: '', endedAt: '', modelMs: 0, kernelMs: 0 };
  it('takes what ran and printed, but not a traceback, and nothing from steps that did not run', () => {
    const sources = answerSources({
      question: 'Total of the Enterprise orders in orders.csv?',
      context: 'orders.csv: 120 rows',
      steps: [
        {
          ...base,
          status: 'error',
          observation: "(4, 2)\nIndexingError: Unalienable boolean Series provided as indexer (index of the boolean Series and of the indexed object do not match) line 5",
          outputs: [
            { output_type: 'stream', name: 'stdout', text: '(4, 2)\n' },
            { output_type: 'error', ename: 'IndexingError', evalue: 'Unalienable boolean Series', traceback: ['Cell In[1], line 5'] }
          ]
        },
        { ...base, index: 1, status: 'skipped', observation: '[not run: the same code 3 times]' },
        { ...base, index: 2, status: 'ok', observation: '10871.4' }
      ]
    });
    expect(sources).toEqual(['Total of the Enterprise orders in orders.csv?', 'orders.csv: 120 rows', '(4, 2)\n', '10871.4']);
    expect(checkGrounding('The total is 5.', sources).grounded).toBe(false);
    expect(checkGrounding('The total is 10,871.40 over 120 orders.', sources).grounded).toBe(true);
  });
});
