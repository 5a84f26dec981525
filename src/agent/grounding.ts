/**
 * Is a final answer grounded in what the episode printed? A small model asked
 * about a file can state a plausible figure that no cell ever computed (or copy
 * one from the prompt's example). This check finds the numbers an answer states,
 * and the proper names it uses, and looks for each in the episode's
 * observations (and the question and context the model was given). Formatting
 * may differ: thousands separators, `$`, `%` for a printed fraction, a value
 * rounded to fewer decimals than printed, `25.9K` for 25,864.65.
 *
 * Pure: no DOM, no Node.
 */
import type { Episode } from '../episode/types';
import { renderOutput } from './observation';

export interface GroundingResult {
  grounded: boolean;
  /** What the answer states that no source shows, as written in the answer. */
  unsupported: string[];
}

interface StatedNumber {
  text: string;
  value: number;
  /** Half a unit of the last digit written, scaled: how far the exact value may be from it. */
  tolerance: number;
  percent: boolean;
}

const SCALES: Record<string, number> = { k: 1e3, thousand: 1e3, m: 1e6, mn: 1e6, million: 1e6, b: 1e9, bn: 1e9, billion: 1e9 };

/**
 * A number as people and pandas write it: `-1,234.5`, `25864.650000000005`,
 * `2.586465e+04`, `12.5%`, `$3.2M`, `4 million`. Not inside a word or an
 * identifier (`C001`, `Q3`, `x2`), not an ordinal (`1st`).
 */
const NUMBER =
  /(?<![\w.])(-|−)?\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?|\.(\d+))(?:[eE]([+-]?\d+))?(?:\s?(%|percent\b)|\s?(k|K|M|mn|bn|B|thousand|million|billion)\b)?(?!\w)/g;

/** ISO dates and times are names, not arithmetic: `2024-03-01` must appear as written. */
const DATE = /\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?\b/g;

function parseNumbers(text: string): StatedNumber[] {
  const found: StatedNumber[] = [];
  for (const m of text.replace(DATE, ' ').matchAll(NUMBER)) {
    const [whole, minus, digits, decimals, bareDecimals, exponent, percent, scaleWord] = m;
    const scale = scaleWord ? SCALES[scaleWord.toLowerCase()] : 1;
    const value = Number(digits.replace(/,/g, '')) * (exponent ? 10 ** Number(exponent) : 1) * (minus ? -1 : 1) * scale;
    if (!Number.isFinite(value)) {
      continue;
    }
    const places = (decimals ?? bareDecimals ?? '').length - (exponent ? Number(exponent) : 0);
    found.push({ text: whole.trim(), value, tolerance: toleranceOf(digits, places) * scale, percent: Boolean(percent) });
  }
  return found;
}

/**
 * Half a unit of the last digit written. An integer ending in three zeros or
 * more with at least two other digits is taken as rounded there (`26,000` for
 * 25,864.65), but `50,000` is not taken for anything from 45,000 to 55,000.
 */
function toleranceOf(digits: string, places: number): number {
  if (places !== 0) {
    return 0.5 * 10 ** -places;
  }
  const integer = digits.replace(/,/g, '');
  const zeros = integer.length - integer.replace(/0+$/, '').length;
  return zeros >= 3 && integer.length - zeros >= 2 ? 0.5 * 10 ** zeros : 0.5;
}

/** Whether a stated number is one of the printed values, as written or rounded. */
function matches(stated: StatedNumber, printed: number[]): boolean {
  const close = (a: number, b: number) => Math.abs(a - b) <= stated.tolerance + 1e-9 * Math.max(1, Math.abs(b));
  // A sign can be said in words ("fell by 3.2%"), so magnitudes are compared.
  const target = Math.abs(stated.value);
  return printed.some(p => close(target, Math.abs(p)) || (stated.percent && close(target, Math.abs(p) * 100)));
}

/** Words that start with a capital mid-sentence without naming anything in the data. */
const COMMON = new Set(
  'I A An The This These That There It Its In On Of For From With By As At To So Thus Therefore Overall Based According Yes No ' +
    'Total Answer Note Average Mean Sum Count USD EUR GBP DataFrame Python CSV'.split(' ')
);

/**
 * Capitalized words that do not open a sentence (a word after a colon
 * counts): in a short answer these name categories from the data ("East",
 * "Widget"), or, when copied from an example, names the data never had.
 * Sentence openers are left out: most are ordinary English.
 */
function namesIn(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(/(?<=[^.!?\n\s][ \t]+|[,(][ \t]*)([A-Z][a-zA-Z]{2,})\b/g)) {
    if (!COMMON.has(m[1])) {
      names.add(m[1]);
    }
  }
  return [...names];
}

/**
 * Checks an answer against the texts the model was shown: every number it
 * states (and every name it uses) must appear in one of them. Numbers also
 * in the question or context are taken as given.
 */
export function checkGrounding(answer: string, sources: string[]): GroundingResult {
  const corpus = sources.join('\n');
  const printed = parseNumbers(corpus).map(n => n.value);
  const unsupported: string[] = [];
  for (const stated of parseNumbers(answer)) {
    if (!matches(stated, printed)) {
      unsupported.push(stated.text);
    }
  }
  for (const date of answer.match(DATE) ?? []) {
    if (!corpus.includes(date)) {
      unsupported.push(date);
    }
  }
  const lowerCorpus = corpus.toLowerCase();
  for (const name of namesIn(answer)) {
    if (!lowerCorpus.includes(name.toLowerCase())) {
      unsupported.push(name);
    }
  }
  return { grounded: unsupported.length === 0, unsupported: [...new Set(unsupported)] };
}

/**
 * What an answer may rest on: the question, the context, and what the
 * episode's code printed. A step that raised an error counts only for what it
 * printed before the error: a traceback's line numbers and shapes are not
 * results. Steps that did not run (skipped, invalid) printed nothing.
 */
export function answerSources(episode: Pick<Episode, 'question' | 'context' | 'steps'>): string[] {
  const printed = episode.steps.flatMap(step => {
    if (step.status === 'ok') {
      return [step.observation];
    }
    if (step.status === 'error' || step.status === 'timeout') {
      return (step.outputs ?? []).filter(o => o.output_type !== 'error').map(renderOutput);
    }
    return [];
  });
  return [episode.question, episode.context ?? '', ...printed];
}
