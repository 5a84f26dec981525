/**
 * The asked form of an answer, on InfiAgent-DABench's own format strings: the
 * fields, their decimals and allowed values, the check of an answer and what
 * is brought into form without the model; and the loop sending a badly formed
 * answer back once.
 */
import fc from 'fast-check';

import { AgentLoop } from '../../src/agent/loop';
import type { AgentModel, CodeRunner, ModelTurn, ModelTurnRequest } from '../../src/agent/types';
import { conversation, promptSha256 } from '../../src/episode/conversation';
import { deliveredAnswer } from '../../src/episode/answer';
import { analyzeNotebook } from '../../src/episode/notebookCells';
import { scoreTask } from '../../src/headless/dabench';
import { answerTemplate, answerTurnGrammar, answerValues, checkAnswerForm, formatAnswer, formatStep, parseAnswerForm } from '../../src/protocol';

// Format strings as the benchmark's dev questions write them.
const CORRELATION = {
  format: '@correlation_coefficient[r_value]\n@p_value[p_value]\nwhere "r_value" is a number between -1 and 1, rounded to two decimal places.\nwhere "p_value" is a number between 0 and 1, rounded to four decimal places.',
  constraints: "Calculate the Pearson correlation coefficient (pearson's r) between \"Pop\" and \"Gdppercap\" columns."
};
const NORMALITY = {
  format: '@norm_test_pvalue[pvalue] @is_normal[isNormal] where "pvalue" is a decimal number rounded to four decimal places and "isNormal" is a boolean value, \'True\' if the age values follow a normal distribution and \'False\' otherwise.',
  constraints: 'Use the Shapiro-Wilk test to check the normality of the age distribution.'
};
const SHARED = {
  format:
    '@mean_dem[mean_dem] \n@mean_gop[mean_gop]\n@std_dev_dem[std_dev_dem]\n@dist_dem[dist_dem]\n@dist_gop[dist_gop]\nwhere "mean_dem" and "mean_gop" are numbers representing the mean values, rounded to two decimal places.\nwhere "std_dev_dem" is a number rounded to three decimal places.\nwhere "dist_dem" and "dist_gop" are strings that can either be "Normal" or "Not Normal" based on the conditions specified in the constraints.',
  constraints: ''
};
const IN_CONSTRAINTS = {
  format: '@mean_total_income[mean] @std_dev_total_income[std_dev] where "mean" and "std_dev" are floats.',
  constraints: "Calculate the mean and standard deviation using the Panda's DataFrame mean() and std() functions distinctively. Round the results to two decimal places."
};

describe('parsing the asked form', () => {
  it('reads each field with the decimals and values its own sentence gives', () => {
    expect(parseAnswerForm(CORRELATION.format, CORRELATION.constraints)?.fields).toEqual([
      { name: 'correlation_coefficient', placeholder: 'r_value', decimals: 2, choices: [], numeric: true },
      { name: 'p_value', placeholder: 'p_value', decimals: 4, choices: [], numeric: true }
    ]);
    expect(parseAnswerForm(NORMALITY.format, NORMALITY.constraints)?.fields).toEqual([
      { name: 'norm_test_pvalue', placeholder: 'pvalue', decimals: 4, choices: [], numeric: true },
      { name: 'is_normal', placeholder: 'isNormal', decimals: null, choices: ['True', 'False'], numeric: false }
    ]);
  });

  it('shares a sentence between fields named together, and takes a rounding rule from the constraints', () => {
    const shared = parseAnswerForm(SHARED.format)!.fields;
    expect(shared.map(f => [f.name, f.decimals, f.choices])).toEqual([
      ['mean_dem', 2, []],
      ['mean_gop', 2, []],
      ['std_dev_dem', 3, []],
      ['dist_dem', null, ['Normal', 'Not Normal']],
      ['dist_gop', null, ['Normal', 'Not Normal']]
    ]);
    expect(parseAnswerForm(IN_CONSTRAINTS.format, IN_CONSTRAINTS.constraints)!.fields.map(f => f.decimals)).toEqual([2, 2]);
  });

  it('reads the decimals and the kind a placeholder states itself (DABench 690 went unrounded)', () => {
    const wind = parseAnswerForm(
      '@number_of_outliers[integer] @mean_wind_speed[number, rounded to 2 decimal places] @std_deviation_wind_speed[number, rounded to 2 decimal places]',
      'Use the Z-score method; remove the outliers, then calculate the mean and standard deviation.'
    )!;
    expect(wind.fields.map(f => [f.name, f.decimals, f.numeric])).toEqual([
      ['number_of_outliers', null, true],
      ['mean_wind_speed', 2, true],
      ['std_deviation_wind_speed', 2, true]
    ]);
    expect(checkAnswerForm('@number_of_outliers[0] @mean_wind_speed[2.2916666666666665] @std_deviation_wind_speed[1.1457887606613928]', wind).text).toBe(
      '@number_of_outliers[0] @mean_wind_speed[2.29] @std_deviation_wind_speed[1.15]'
    );
    // Text in a placeholder that names no kind leaves the field as it was.
    expect(parseAnswerForm('@most_common_city[city name]')!.fields[0]).toMatchObject({ decimals: null, numeric: false });
  });

  it('asks nothing of a task without fields, or a user question', () => {
    expect(parseAnswerForm(undefined)).toBeNull();
    expect(parseAnswerForm('')).toBeNull();
    expect(parseAnswerForm('Give the answer in percent.')).toBeNull();
  });
});

describe('checking an answer', () => {
  const correlation = parseAnswerForm(CORRELATION.format, CORRELATION.constraints)!;
  const normality = parseAnswerForm(NORMALITY.format, NORMALITY.constraints)!;

  it('rounds a printed number to the decimals asked, and says so', () => {
    const check = checkAnswerForm('@correlation_coefficient[0.2576904] @p_value[0.00012345]', correlation);
    expect(check.problems).toEqual([]);
    expect(check.text).toBe('@correlation_coefficient[0.26] @p_value[0.0001]');
    expect(check.fixes).toEqual([
      { name: 'correlation_coefficient', from: '0.2576904', to: '0.26', why: 'rounded to 2 decimal places as asked' },
      { name: 'p_value', from: '0.00012345', to: '0.0001', why: 'rounded to 4 decimal places as asked' }
    ]);
  });

  it('keeps only the number of a bracket that holds one, and writes a listed value as the task spells it', () => {
    const check = checkAnswerForm('@norm_test_pvalue[p = 0.04213] and @is_normal["false"]', normality);
    expect(check.problems).toEqual([]);
    expect(check.text).toBe('@norm_test_pvalue[0.0421] and @is_normal[False]');
  });

  it('names what is missing, what is not a number, and a value that is not one of those listed', () => {
    expect(checkAnswerForm('The correlation is 0.26.', correlation).problems).toEqual(['it lacks @correlation_coefficient[…], @p_value[…]']);
    expect(checkAnswerForm('@correlation_coefficient[0.26 or 0.27] @p_value[n/a]', correlation).problems).toEqual([
      '@correlation_coefficient[…] must hold one number, not "0.26 or 0.27"',
      '@p_value[…] must hold one number, not "n/a"'
    ]);
    expect(checkAnswerForm('@norm_test_pvalue[0.1] @is_normal[maybe]', normality).problems).toEqual(['@is_normal[…] must be one of "True", "False", not "maybe"']);
    expect(checkAnswerForm('@p_value[0.1] @correlation_coefficient[0.2] @p_value[0.3]', correlation).problems).toEqual([
      'it gives @p_value[…] 2 times with different values'
    ]);
  });

  it('sends back a copied placeholder (DABench 59: @country_name[country]) and takes the real value', () => {
    const country = parseAnswerForm('@country_name[country] where "country" is a string representing the name of the country with the highest average number of cases.')!;
    expect(checkAnswerForm('@country_name[country]', country).problems).toEqual([
      "@country_name[country] copies the format's placeholder: write the country your outputs show"
    ]);
    expect(checkAnswerForm('@country_name[ Country ]', country).problems).toHaveLength(1);
    expect(checkAnswerForm('@country_name[India]', country).problems).toEqual([]);
  });

  it('moves a value written after copied placeholder brackets into them (DABench 175 and 234, after the form was shown too)', () => {
    const outliers = parseAnswerForm('@outliers_count[outliers_count] \nwhere "outliers_count" is the number of outliers detected in the age of passengers. This should be an integer number.')!;
    const check = checkAnswerForm('@outliers_count[outliers_count] = 2', outliers);
    expect(check.problems).toEqual([]);
    expect(check.text).toBe('@outliers_count[2]');
    expect(check.fixes).toEqual([{ name: 'outliers_count', from: 'outliers_count', to: '2', why: 'the value written after the brackets moved into them' }]);
    const days = parseAnswerForm('@average_duration[days] where "days" is a whole number representing the average number of days, rounded to the nearest whole number.')!;
    expect(checkAnswerForm('@average_duration[days] = 364.0', days).text).toBe('@average_duration[364]');
    expect(checkAnswerForm('The mean: @average_duration[days]: 364.4, as printed.', days).text).toBe('The mean: @average_duration[364], as printed.');
    // Nothing after the brackets, or a real value in them: nothing is moved.
    expect(checkAnswerForm('@average_duration[days]', days).problems).toEqual(['@average_duration[…] must hold one number, not "days"']);
    expect(checkAnswerForm('@average_duration[364] = days', days)).toEqual({ problems: [], fixes: [], text: '@average_duration[364] = days' });
    const country = parseAnswerForm('@country_name[country] where "country" is a string.')!;
    expect(checkAnswerForm('@country_name[country] is Congo', country).text).toBe('@country_name[Congo]');
  });

  it('says why a value changed when only its spaces were removed (DABench 24 recorded an empty reason)', () => {
    const age = parseAnswerForm('@mean_age[mean_age] where "mean_age" is a number rounded to two decimal places.')!;
    expect(checkAnswerForm('@mean_age[ 39.21 ]', age).fixes).toEqual([{ name: 'mean_age', from: ' 39.21 ', to: '39.21', why: 'spaces removed' }]);
  });

  it('leaves an answer already in form exactly as it is', () => {
    const answer = 'Yes: @correlation_coefficient[-0.55] @p_value[0.0321]';
    expect(checkAnswerForm(answer, correlation)).toEqual({ problems: [], fixes: [], text: answer });
  });

  it('rounds any printed number to at most the decimals asked, within half a unit, and the benchmark scores it as the rounded value', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 6 }), (x, decimals) => {
        const form = parseAnswerForm(`@v[v] where "v" is a number rounded to ${decimals} decimal places.`)!;
        const printed = String(x);
        const check = checkAnswerForm(`@v[${printed}]`, form);
        const value = /@v\[(.*)\]/.exec(check.text)![1];
        expect(check.problems).toEqual([]);
        // At most the decimals asked, and within half a unit of the last place of the printed value.
        expect((value.split('.')[1] ?? '').length).toBeLessThanOrEqual(printed.includes('e') ? Infinity : decimals);
        if (!printed.includes('e')) {
          expect(Math.abs(Number(value) - x)).toBeLessThanOrEqual(0.5 * 10 ** -decimals + 1e-9 * Math.max(1, Math.abs(x)));
          const label = x.toFixed(decimals);
          expect(scoreTask(check.text, { id: '1', common_answers: [['v', label]] }).correct).toBe(true);
        }
      })
    );
  });
});

describe('a placeholder that lists values', () => {
  // DABench 77 and 219: the benchmark compares the bracket as one string, separated as the placeholder is.
  const monthly = parseAnswerForm(
    '@Highest_Monthly_Average_Close_Price[month, year, average_close_price]\nwhere "month" is an integer between 1 and 12, "year" is an integer, and "average_close_price" is a float rounded to two decimal places.'
  )!;
  const outliers = parseAnswerForm(
    '@site_identifiers[site_id1,site_id2,...] @outlier_values[value1,value2,...], where "site_id1", "site_id2", ... are strings representing the identifiers of the sites with detected outliers and "value1", "value2", ... are the corresponding absolute difference in selection values for the outliers, each rounded to two decimal places.'
  )!;

  it('reads the values it names, how they are separated, and the decimals each is asked for', () => {
    expect(monthly.fields[0]).toMatchObject({ decimals: null, numeric: false, list: { items: ['month', 'year', 'average_close_price'], open: false, separator: ', ' } });
    // The sentence's rounding reaches every value it names before it; an integer written as one is not changed by it.
    expect(monthly.fields[0].list!.decimals[2]).toBe(2);
    expect(outliers.fields.map(f => f.list)).toEqual([
      { items: ['site_id1', 'site_id2'], open: true, separator: ',', decimals: [2, 2] },
      { items: ['value1', 'value2'], open: true, separator: ',', decimals: [2, 2] }
    ]);
    // A placeholder that describes one value in words is no list.
    expect(parseAnswerForm('@mean_wind_speed[number, rounded to 2 decimal places]')!.fields[0].list).toBeUndefined();
  });

  it('rounds each value as asked and separates them as the placeholder does, where one number was demanded before', () => {
    const check = checkAnswerForm('@Highest_Monthly_Average_Close_Price[1,2018,88.31818181818181]', monthly);
    expect(check.problems).toEqual([]);
    expect(check.text).toBe('@Highest_Monthly_Average_Close_Price[1, 2018, 88.32]');
    expect(scoreTask(check.text, { id: '77', common_answers: [['Highest_Monthly_Average_Close_Price', '1, 2018, 88.32']] }).correct).toBe(true);
    expect(checkAnswerForm('@Highest_Monthly_Average_Close_Price[1, 2018, 88.32]', monthly)).toEqual({ problems: [], fixes: [], text: '@Highest_Monthly_Average_Close_Price[1, 2018, 88.32]' });
  });

  it("takes a Python list's brackets and quotes off, and rounds as Python prints a rounded value", () => {
    const check = checkAnswerForm("@site_identifiers[['(HA2)121', '326']] @outlier_values[(9.0291, 8.9999)]", outliers);
    expect(check.problems).toEqual([]);
    expect(check.text).toBe('@site_identifiers[(HA2)121,326] @outlier_values[9.03,9.0]');
    expect(check.fixes.map(f => f.why)).toEqual([
      'the list\'s own brackets removed; quotes removed; values separated by "," as the format writes them',
      'the list\'s own brackets removed; rounded as asked; values separated by "," as the format writes them'
    ]);
    // A value that only begins with a parenthesis is not a tuple; an apostrophe inside a value opens no quote.
    expect(checkAnswerForm("@site_identifiers[(HA2)121, O'Neil] @outlier_values[9.03]", outliers).text).toBe("@site_identifiers[(HA2)121,O'Neil] @outlier_values[9.03]");
  });

  it('sends back a closed list with another number of values', () => {
    expect(checkAnswerForm('@Highest_Monthly_Average_Close_Price[88.32]', monthly).problems).toEqual([
      '@Highest_Monthly_Average_Close_Price[…] must hold 3 values, month, year, average_close_price, separated by ", "'
    ]);
    expect(checkAnswerForm('@site_identifiers[a] @outlier_values[1.5,2.25,3]', outliers).problems).toEqual([]);
  });

  it('lets the answer-only turn write the values as text', () => {
    expect(answerTurnGrammar(monthly)).toContain('answer ::= "@Highest_Monthly_Average_Close_Price[" value "]"');
  });
});

describe('the answer-only grammar', () => {
  it('spells each field once, a number where a number is asked and the listed values where they are listed', () => {
    const grammar = answerTurnGrammar(parseAnswerForm(NORMALITY.format, NORMALITY.constraints));
    expect(grammar).toContain('answer ::= "@norm_test_pvalue[" number "]" ", " "@is_normal[" ("True" | "False") "]"');
    expect(grammar).toMatch(/^root ::= "<stop_analysis>\\n<thought>" thought "<\/thought>\\n<answer>" answer "<\/answer>\\n<\/stop_analysis>"$/m);
    expect(answerTurnGrammar(null)).toContain('answer ::= text');
  });
});

/** Replies with scripted turns, cut at their stop strings. */
class Scripted implements AgentModel {
  readonly name = 'scripted';
  readonly requests: ModelTurnRequest[] = [];
  constructor(private readonly _turns: string[]) {}
  async complete(request: ModelTurnRequest): Promise<ModelTurn> {
    this.requests.push(request);
    const turn = this._turns.shift()!;
    const stop = request.stop.find(s => turn.includes(s));
    return { text: stop ? turn.slice(0, turn.indexOf(stop)) : turn, stopString: stop ?? null, stopReason: stop ? 'stop' : 'eos' };
  }
}

const printing: CodeRunner = {
  run: async () => ({ status: 'ok', outputs: [{ output_type: 'stream', name: 'stdout', text: 'r 0.2576904 p 0.0321\n' }], durationMs: 1 })
};

describe('the loop and the asked form', () => {
  const form = parseAnswerForm(CORRELATION.format, CORRELATION.constraints)!;
  const compute = formatStep({ thought: 'Correlate.', code: 'print("r", r, "p", p)' });

  it('sends an answer in prose back once, with the form, and the next turn may only be the answer in form', async () => {
    const model = new Scripted([compute, formatAnswer({ thought: 'Done.', text: 'r is 0.2576904, p is 0.0321' }), formatAnswer({ thought: 'Done.', text: '@correlation_coefficient[0.2576904], @p_value[0.0321]' })]);
    const episode = await new AgentLoop(model, printing).run({ episodeId: 'f', question: 'Correlation?', profile: 'compact', answerForm: form });
    expect(episode.status).toBe('answered');
    expect(episode.rejectedAnswers).toEqual([
      expect.objectContaining({ kind: 'form', afterSteps: 1, problems: ['it lacks @correlation_coefficient[…], @p_value[…]'], unsupported: [] })
    ]);
    expect(model.requests[2].messages[model.requests[2].messages.length - 1].content).toContain(answerTemplate(form));
    expect(model.requests[2].grammar).toBe(answerTurnGrammar(form));
    // Delivered rounded as asked; the model's own answer is kept for training data.
    expect(episode.answer?.text).toBe('@correlation_coefficient[0.2576904], @p_value[0.0321]');
    expect(deliveredAnswer(episode)).toBe('@correlation_coefficient[0.26], @p_value[0.0321]');
    expect(episode.answerForm?.fixes).toHaveLength(1);
    expect(promptSha256(conversation(episode))).toBe(episode.answerPromptSha256);
    // The answer cell shows the delivered answer and says what was changed.
    const cells = (analyzeNotebook(episode) as { cells: { source: string }[] }).cells;
    expect(cells[cells.length - 1].source).toMatch(/^\*\*Answer\.\*\* @correlation_coefficient\[0\.26\], @p_value\[0\.0321\]\n\n\*Brought into the asked form: 0\.2576904 → 0\.26 \(rounded to 2 decimal places as asked\)\.\*/);
  });

  it('accepts the second badly formed answer and records what is still wrong', async () => {
    const bad = formatAnswer({ thought: 'Done.', text: '@correlation_coefficient[0.26]' });
    const model = new Scripted([compute, bad, bad]);
    const episode = await new AgentLoop(model, printing).run({ episodeId: 'g', question: 'Correlation?', profile: 'compact', answerForm: form });
    expect(episode.status).toBe('answered');
    expect(episode.rejectedAnswers).toHaveLength(1);
    // Some fields were given: the model may still need a step to compute the others.
    expect(model.requests[2].grammar).toBeUndefined();
    expect(episode.answerForm?.problems).toEqual(['it lacks @p_value[…]']);
  });

  it('datarus-r1 only records the check, as its harness never sends an answer back', async () => {
    const model = new Scripted([compute, formatAnswer({ thought: 'Done.', text: 'r is 0.26' })]);
    const episode = await new AgentLoop(model, printing).run({ episodeId: 'h', question: 'Correlation?', profile: 'datarus-r1', answerForm: form });
    expect(episode.status).toBe('answered');
    expect(episode.rejectedAnswers).toBeUndefined();
    expect(episode.answerForm?.problems).toEqual(['it lacks @correlation_coefficient[…], @p_value[…]']);
  });

  it('sends back once an answer in the form given before any code ran, though the question names its value (DABench 324)', async () => {
    const missing = parseAnswerForm('@max_missing_values[column_name] The output should be a string containing the name of the column with the highest number of missing values.')!;
    const model = new Scripted([
      formatAnswer({ thought: 'From the constraints.', text: '@max_missing_values[SCORE]' }),
      formatStep({ thought: 'Count.', code: 'print(df.isna().sum())' }),
      formatAnswer({ thought: 'Printed.', text: '@max_missing_values[SCORE]' })
    ]);
    const question = 'Which column has the most missing values?\n\nConstraints: Columns with missing values: HOMEDESCRIPTION, SCORE.';
    const counts: CodeRunner = { run: async () => ({ status: 'ok', outputs: [{ output_type: 'stream', name: 'stdout', text: 'SCORE 3\n' }], durationMs: 1 }) };
    const episode = await new AgentLoop(model, counts).run({ episodeId: 'z', question, profile: 'compact', answerForm: missing });
    expect(episode.rejectedAnswers).toEqual([expect.objectContaining({ kind: 'grounding', afterSteps: 0, unsupported: ['SCORE'] })]);
    expect(episode.steps).toHaveLength(1);
    expect(episode.answer?.text).toBe('@max_missing_values[SCORE]');
    // Without an asked form an answer may come first (a question about the notebook, not its data).
    const plain = new Scripted([formatAnswer({ thought: 'Known.', text: 'SCORE' })]);
    expect((await new AgentLoop(plain, counts).run({ episodeId: 'y', question, profile: 'compact' })).rejectedAnswers).toBeUndefined();
    expect(answerValues('@a[1] @b[ x ] @c[1]')).toEqual(['1', 'x']);
    expect(answerValues('  It is 3.  ')).toEqual(['It is 3.']);
  });

  it('asks nothing of a question that states no form', async () => {
    const model = new Scripted([compute, formatAnswer({ thought: 'Done.', text: 'r is 0.2576904' })]);
    const episode = await new AgentLoop(model, printing).run({ episodeId: 'i', question: 'Correlation?', profile: 'compact' });
    expect(episode.rejectedAnswers).toBeUndefined();
    expect(episode.answerForm).toBeUndefined();
    expect(deliveredAnswer(episode)).toBe('r is 0.2576904');
  });
});
