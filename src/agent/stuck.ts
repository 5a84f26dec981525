/**
 * Signs that the agent is going in circles, for the loop to act on: a step
 * whose code is the same as the previous step's (its output is already in the
 * conversation, so running it again tells the model nothing new), and a turn
 * whose text keeps repeating itself (a small model can emit one line until the
 * token limit, minutes of generation that can never become a step).
 * Pure: no DOM, no Node.
 */
import { comparableCode } from '../protocol/code';

/** How many times in a row the same code may be written before the episode ends. */
export const SAME_CODE_LIMIT = 3;

/** Code as a reader compares it (src/protocol/code.ts). */
export const normalizeCode = comparableCode;

/** Counts how many steps in a row have written the same code. */
export class RepeatedCode {
  private _last: string | null = null;
  private _count = 0;

  /** Records the code of a step and returns how many times in a row it has now been written. */
  note(code: string): number {
    const normalized = normalizeCode(code);
    this._count = normalized === this._last ? this._count + 1 : 1;
    this._last = normalized;
    return this._count;
  }

  /** Whether `code` is what the previous step wrote (without recording it). */
  repeats(code: string): boolean {
    return this._last !== null && normalizeCode(code) === this._last;
  }

  /** Forgets the last code, e.g. after the user edited it into something else. */
  reset(): void {
    this._last = null;
    this._count = 0;
  }
}

export interface RepetitionOptions {
  /** Longest repeated unit looked for, in characters (a line or a few lines). */
  maxPeriod: number;
  /** The unit must repeat at least this many times in a row... */
  minRepeats: number;
  /** ...and the repeated run must be at least this long, so short rhythms in real code pass. */
  minSpan: number;
  /** How much new text to wait for between checks. */
  checkEvery: number;
}

export const DEFAULT_REPETITION: RepetitionOptions = { maxPeriod: 240, minRepeats: 4, minSpan: 600, checkEvery: 32 };

/** How far back one check looks, in characters: bounds the work per check. */
const MAX_SCAN = 8192;

/**
 * Watches a turn's text as it streams and says when its end has become one
 * unit repeated over and over (a line, a few lines, or a single character).
 */
export class RepetitionWatch {
  private _text = '';
  private _checkedAt = 0;
  private _start: number | null = null;
  private readonly _options: RepetitionOptions;

  constructor(options: Partial<RepetitionOptions> = {}) {
    this._options = { ...DEFAULT_REPETITION, ...options };
  }

  /** Adds streamed text; true once the text repeats itself (and from then on). */
  feed(chunk: string): boolean {
    if (this._start !== null) {
      return true;
    }
    this._text += chunk;
    if (this._text.length - this._checkedAt >= this._options.checkEvery) {
      this._checkedAt = this._text.length;
      this._start = findRepetition(this._text, this._options);
    }
    return this._start !== null;
  }

  get repeating(): boolean {
    return this._start !== null;
  }

  /** The text up to the end of the first copy of the repeated unit: what is worth keeping. */
  kept(): string {
    return this._start === null ? this._text : this._text.slice(0, this._start);
  }
}

/**
 * Where the repetition at the end of `text` starts being redundant (the end of
 * its first copy), or null when the end of the text does not repeat enough.
 */
export function findRepetition(text: string, options: RepetitionOptions = DEFAULT_REPETITION): number | null {
  const end = text.length;
  const floor = Math.max(0, end - MAX_SCAN);
  for (let period = 1; period <= options.maxPeriod && period * 2 <= end; period++) {
    // Length of the longest tail in which every character equals the one a period earlier.
    let i = end - 1;
    while (i - period >= floor && text.charCodeAt(i) === text.charCodeAt(i - period)) {
      i--;
    }
    const matched = end - 1 - i;
    const span = matched + period;
    if (span >= options.minSpan && span >= options.minRepeats * period) {
      return end - matched;
    }
  }
  return null;
}

/**
 * The observation of a step that repeated the previous step's code and was not
 * run: it goes back to the model in place of output, so every prompt profile
 * carries it the way it carries any observation.
 */
export const SAME_CODE_OBSERVATION =
  '[not run: this is the same code as the previous step, whose output is above. ' +
  'If that output answers the question, finish with <stop_analysis>; otherwise write different code.]';

/** The same, when that previous step raised an error: its output is the error, which the same code would raise again. */
export const SAME_FAILING_CODE_OBSERVATION =
  '[not run: this is the same code as the previous step, which raised the error above; it would raise it again. ' +
  'Write different code that avoids the error.]';
