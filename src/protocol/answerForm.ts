/**
 * The form a task asks its answer to be written in, and the check of a final
 * answer against it. InfiAgent-DABench states it as `@name[placeholder]`
 * fields with sentences about each placeholder ("rounded to two decimal
 * places", "either "yes" or "no""), and scores `@name[value]` by exact string
 * or a number within 1e-6 — so `0.2576904` for a value asked to three decimals
 * is wrong, as is `@is_normal[no]` for "False"/"True".
 *
 * `parseAnswerForm` reads the fields from the format text (and the task's
 * constraints, where the rounding is often stated); `checkAnswerForm` says
 * what an answer lacks and brings into form what needs no model: a number
 * rounded to the decimals asked, quotes or a unit around a number, the case of
 * a value that must be one of a few words. Nothing is fixed that the task did
 * not ask for; a task without fields asks nothing.
 *
 * Pure: no DOM, no Node.
 */

export interface AnswerField {
  name: string;
  /** The text between the brackets in the format (`mean`, `r_value`). */
  placeholder: string;
  /** Decimal places the value must be rounded to, when the task says. */
  decimals: number | null;
  /** The only values allowed, when the task lists them (`yes`/`no`, `True`/`False`). */
  choices: string[];
  /** The task describes the value as a number (or gives its decimals). */
  numeric: boolean;
  /** Set when the placeholder is a list of values (`month, year, average_close_price`, `id1, id2, ...`). */
  list?: AnswerList;
}

/**
 * A placeholder that lists its values. DABench compares the whole bracket as
 * one string, and its labels separate the values as the placeholder does
 * (`1, 2018, 88.32` for `[month, year, average_close_price]`, `9.03,9.0` for
 * `[value1,value2,...]`).
 */
export interface AnswerList {
  /** The values the placeholder names, in order. */
  items: string[];
  /** The placeholder ends with `...`: any number of values. */
  open: boolean;
  /** How the placeholder separates its values: `, ` or `,`. */
  separator: string;
  /** Decimal places for each named value, when the task says; an open list's later values take the last one's. */
  decimals: (number | null)[];
}

export interface AnswerForm {
  fields: AnswerField[];
  /** The format as the task wrote it, for the feedback. */
  format: string;
}

export interface AnswerFix {
  name: string;
  from: string;
  to: string;
  /** Why, in words ("rounded to 2 decimal places as asked"). */
  why: string;
}

export interface AnswerFormCheck {
  /** What is still wrong after the fixes (empty: the answer has the asked form). */
  problems: string[];
  /** What was brought into form without the model. */
  fixes: AnswerFix[];
  /** The answer with the fixes applied (the answer itself when there were none). */
  text: string;
}

const FIELD = /@(\w+)\[([^\]\n]*)\]/g;

const NUMBER_WORDS: Record<string, number> = {
  zero: 0,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  first: 1,
  second: 2,
  third: 3,
  fourth: 4
};

/** "two decimal places", "2 decimals", "4 decimal points", "the nearest integer". */
const DECIMALS = /\b(zero|one|two|three|four|five|six|first|second|third|fourth|\d)(?:st|nd|rd|th)?\s+decimal(?:s|\s+(?:places?|points?|digits?))?\b|\bnearest\s+(?:integer|whole\s+number)\b/gi;

function decimalsOf(match: RegExpMatchArray): number {
  if (/nearest/i.test(match[0])) {
    return 0;
  }
  const word = match[1].toLowerCase();
  return word in NUMBER_WORDS ? NUMBER_WORDS[word] : Number(word);
}

/** Words that describe a value as a number, or as text. */
const NUMERIC_WORDS = /\b(number|float|integer|int|decimal|count|percentage)\b/i;
const TEXT_WORDS = /\b(string|boolean)\b/i;

/** A list placeholder's parts: names, and an ellipsis for more of the same. */
const LIST_PART = /^(?:\w+|\.{2,}|…)$/;

function listOf(placeholder: string): AnswerList | null {
  const parts = placeholder.split(',').map(p => p.trim());
  if (parts.length < 2 || !parts.every(p => LIST_PART.test(p))) {
    return null;
  }
  const items = parts.filter(p => /^\w+$/.test(p));
  return { items, open: items.length < parts.length, separator: /,\s/.test(placeholder) ? ', ' : ',', decimals: items.map(() => null) };
}

const unquote = (text: string) => text.trim().replace(/^["'`“”‘’]+|["'`“”‘’]+$/g, '');

/** Whether a bracket holds the format's placeholder itself (`@country_name[country]`). */
const copiesPlaceholder = (field: AnswerField, value: string) => field.placeholder !== '' && unquote(value).toLowerCase() === field.placeholder.toLowerCase();

/** Pieces of the description that speak of one value each: lines, "where …" clauses, sentences. */
function clauses(text: string): string[] {
  return text
    .split(/\n+|\bwhere\b|(?<=[.;])\s+(?=[A-Z@"'])/i)
    .map(c => c.trim())
    .filter(Boolean);
}

const QUOTED = /["'“‘`]([^"'”’`\n]{1,60})["'”’`]/g;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Where in a clause a field is spoken of (quoted, or as a distinctive word), or -1. */
function mentionAt(clause: string, field: { name: string; placeholder: string }): number {
  const at: number[] = [];
  for (const word of new Set([field.placeholder, field.name])) {
    if (!word) {
      continue;
    }
    const quoted = new RegExp(`["'“‘\`]${escapeRegExp(word)}["'”’\`]`).exec(clause);
    if (quoted) {
      at.push(quoted.index);
    } else if (/[_\d]/.test(word)) {
      const bare = new RegExp(`(?<![\\w@])${escapeRegExp(word)}(?![\\w\\[])`).exec(clause);
      if (bare) {
        at.push(bare.index);
      }
    }
  }
  return at.length ? Math.min(...at) : -1;
}

/**
 * The fields of a format text such as `@mean[mean] @std[std_dev] where "mean"
 * is … rounded to two decimal places`; null when it names none.
 */
export function parseAnswerForm(format: string | undefined, constraints = ''): AnswerForm | null {
  if (!format) {
    return null;
  }
  const fields: AnswerField[] = [];
  for (const m of format.matchAll(FIELD)) {
    if (!fields.some(f => f.name === m[1])) {
      const list = listOf(unquote(m[2]));
      fields.push({ name: m[1], placeholder: unquote(m[2]), decimals: null, choices: [], numeric: false, ...(list ? { list } : {}) });
    }
  }
  if (fields.length === 0) {
    return null;
  }
  // A list's values are described by their own names ("average_close_price" is a float rounded to two decimal places).
  const items = fields.flatMap(f => (f.list ? f.list.items.map((item, i) => ({ list: f.list!, i, field: { name: item, placeholder: item, decimals: null, choices: [], numeric: false } as AnswerField })) : []));
  const described = [...fields.filter(f => !f.list), ...items.map(it => it.field)];
  // A placeholder may describe its own value: `@mean_wind_speed[number, rounded to 2 decimal places]`.
  for (const field of fields.filter(f => !f.list)) {
    const own = [...field.placeholder.matchAll(DECIMALS)];
    if (own.length === 1) {
      field.decimals = decimalsOf(own[0]);
      field.numeric = true;
    } else if (NUMERIC_WORDS.test(field.placeholder) && !TEXT_WORDS.test(field.placeholder)) {
      field.numeric = true;
    }
  }
  const names = new Set([...fields, ...items.map(it => it.field)].flatMap(f => [f.name, f.placeholder]));
  const general: number[] = [];
  for (const sentence of clauses(`${format}\n${constraints}`)) {
    const clause = sentence.replace(FIELD, ' ');
    const mentioned = described.map(f => ({ field: f, at: mentionAt(clause, f) })).filter(m => m.at >= 0);
    // Each rounding phrase belongs to the fields named since the previous one (or to all in the clause).
    let from = 0;
    for (const phrase of clause.matchAll(DECIMALS)) {
      const decimals = decimalsOf(phrase);
      const own = mentioned.filter(m => m.at >= from && m.at < phrase.index!);
      const targets = own.length ? own : mentioned.filter(m => m.field.decimals === null);
      if (mentioned.length === 0) {
        general.push(decimals);
      }
      for (const { field } of targets) {
        field.decimals ??= decimals;
        field.numeric = true;
      }
      from = phrase.index! + phrase[0].length;
    }
    describeEach(clause, mentioned, names);
  }
  // "Round the results to two decimal places" in the constraints: every numeric field not told otherwise.
  const distinct = [...new Set(general)];
  if (distinct.length === 1) {
    for (const field of described) {
      if (field.decimals === null && field.choices.length === 0) {
        field.decimals = distinct[0];
      }
    }
  }
  for (const { list, i, field } of items) {
    list.decimals[i] = field.decimals;
  }
  return { fields, format: format.trim() };
}

/**
 * What a clause says of the fields it names: each field's stretch of text runs
 * to the next field's mention; fields named together ("dist_dem" and
 * "dist_gop" are strings that can be "Normal" or "Not Normal") share what
 * follows them.
 */
function describeEach(clause: string, mentioned: { field: AnswerField; at: number }[], names: Set<string>): void {
  const ordered = [...mentioned].sort((a, b) => a.at - b.at);
  let group: AnswerField[] = [];
  ordered.forEach((m, i) => {
    group.push(m.field);
    const stretch = clause.slice(m.at, i + 1 < ordered.length ? ordered[i + 1].at : clause.length);
    const quoted = [...stretch.matchAll(QUOTED)].map(q => q[1].trim()).filter(q => q && !names.has(q));
    const words = stretch.replace(QUOTED, ' ');
    if (quoted.length === 0 && !NUMERIC_WORDS.test(words) && !TEXT_WORDS.test(words) && i + 1 < ordered.length) {
      return; // only "and" between this field and the next: they are described together
    }
    for (const field of group) {
      if (NUMERIC_WORDS.test(words) && !TEXT_WORDS.test(words)) {
        field.numeric = true;
      }
      if (quoted.length >= 2 && field.choices.length === 0 && /\b(either|or|one of|can be|takes|true|false|yes|no)\b/i.test(stretch)) {
        field.choices = [...new Set(quoted)];
      }
    }
    group = [];
  });
}

/** The answer's `@name[value]` entries, in order. */
function entries(answer: string): { name: string; value: string; index: number; length: number }[] {
  return [...answer.matchAll(FIELD)].map(m => ({ name: m[1], value: m[2], index: m.index!, length: m[0].length }));
}

const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const NUMBER_IN_TEXT = /[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/** Decimal places a number is written with. */
function writtenDecimals(text: string): number {
  const m = /\.(\d+)(?:[eE]|$)/.exec(text);
  return /[eE]/.test(text) ? Infinity : m ? m[1].length : 0;
}

/** The one number a bracket holds, with separators, units or quotes around it removed; null when not exactly one. */
function soleNumber(value: string): string | null {
  const found = [...value.matchAll(NUMBER_IN_TEXT)].map(m => m[0]).filter(n => /\d/.test(n));
  return found.length === 1 ? found[0].replace(/,/g, '') : null;
}

/** One value brought into its field's form; the fixes made, or the problem left. */
function formValue(field: AnswerField, value: string): { value: string; why: string[]; problem?: string } {
  let v = value.trim();
  const why: string[] = v === value ? [] : ['spaces removed'];
  const stripped = unquote(v);
  if (stripped !== v) {
    v = stripped;
    why.push('quotes removed');
  }
  if (field.choices.length > 0) {
    if (field.choices.includes(v)) {
      return { value: v, why };
    }
    const match = field.choices.find(c => c.toLowerCase() === v.toLowerCase());
    if (match) {
      return { value: match, why: [...why, `written as the task spells it (${field.choices.map(c => `"${c}"`).join(' or ')})`] };
    }
    return { value: v, why, problem: `@${field.name}[…] must be one of ${field.choices.map(c => `"${c}"`).join(', ')}, not "${v}"` };
  }
  if (!field.numeric && field.decimals === null) {
    // A copied template (`@country_name[country]`) is no answer: a 1.5B model asked for its best answer wrote one.
    if (copiesPlaceholder(field, v)) {
      return { value: v, why, problem: `@${field.name}[${v}] copies the format's placeholder: write the ${field.placeholder} your outputs show` };
    }
    return { value: v, why };
  }
  if (!PLAIN_NUMBER.test(v)) {
    const sole = soleNumber(v);
    if (sole === null || !PLAIN_NUMBER.test(sole)) {
      return { value: v, why, problem: `@${field.name}[…] must hold one number, not "${v}"` };
    }
    v = sole;
    why.push('only the number kept');
  }
  if (field.decimals !== null && writtenDecimals(v) > field.decimals) {
    const rounded = Number(v).toFixed(field.decimals);
    // toFixed writes "-0.00" for a small negative number; the task means 0.
    v = /^-0(\.0*)?$/.test(rounded) ? rounded.slice(1) : rounded;
    why.push(`rounded to ${field.decimals} decimal place${field.decimals === 1 ? '' : 's'} as asked`);
  }
  return { value: v, why };
}

/** A list's values: split at commas outside quotes (a quote opens only at a value's start, not in `O'Neil`). */
function splitList(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (const ch of text) {
    if (quote) {
      quote = ch === quote ? null : quote;
    } else if ((ch === '"' || ch === "'") && current.trim() === '') {
      quote = ch;
    } else if (ch === ',') {
      parts.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  return [...parts, current].map(p => p.trim());
}

/** A number rounded as Python's `round` prints it (`9.0`, `88.32`), as the benchmark's labels write a list's values. */
function pythonRounded(text: string, decimals: number): string {
  const n = Number(Number(text).toFixed(decimals));
  const written = Object.is(n, -0) ? '0' : String(n);
  return decimals > 0 && /^-?\d+$/.test(written) ? `${written}.0` : written;
}

/**
 * A list placeholder's value brought into the format's form: a Python list or
 * tuple written inside the brackets loses its own brackets and quotes, each
 * value is rounded as asked, and the values are separated as the placeholder
 * separates them. `after`: the answer's text after the entry (`@ids[[1, 2]]`
 * ends the entry at the first `]`; the second is taken too, as `consumed`).
 */
function formList(field: AnswerField, list: AnswerList, value: string, after: string): { value: string; why: string[]; problem?: string; consumed: number } {
  let v = value.trim();
  const why: string[] = [];
  let consumed = 0;
  const inner = [...v.slice(1, -1)];
  const tuple = v.startsWith('(') && v.endsWith(')') && inner.filter(c => c === '(').length === inner.filter(c => c === ')').length;
  if (tuple || (v.startsWith('[') && after.startsWith(']'))) {
    v = tuple ? v.slice(1, -1) : v.slice(1);
    consumed = tuple ? 0 : 1;
    why.push("the list's own brackets removed");
  }
  const written = splitList(v);
  const parts = written.map(unquote);
  if (parts.some((p, i) => p !== written[i])) {
    why.push('quotes removed');
  }
  const decimalsAt = (i: number) => (i < list.items.length ? list.decimals[i] : list.open ? list.decimals[list.items.length - 1] : null);
  const formed = parts.map((p, i) => {
    const d = decimalsAt(i);
    return d !== null && PLAIN_NUMBER.test(p) && writtenDecimals(p) > d ? pythonRounded(p, d) : p;
  });
  if (formed.some((p, i) => p !== parts[i])) {
    why.push('rounded as asked');
  }
  if (written.join(list.separator) !== v) {
    why.push(`values separated by "${list.separator}" as the format writes them`);
  }
  const problem =
    !list.open && parts.length !== list.items.length ? `@${field.name}[…] must hold ${list.items.length} values, ${list.items.join(', ')}, separated by "${list.separator}"` : undefined;
  return { value: formed.join(list.separator), why, problem, consumed };
}

/**
 * A value written after brackets that copy the format's placeholder
 * (`@outliers_count[outliers_count] = 2`, as the starter wrote it twice in 177
 * DABench dev tasks, the second time after being shown the form): the value
 * and how much text after the entry it took; null when there is none.
 */
function valueAfterPlaceholder(field: AnswerField, entry: { value: string }, after: string): { value: string; length: number } | null {
  if (!copiesPlaceholder(field, entry.value) && unquote(entry.value).toLowerCase() !== field.name.toLowerCase()) {
    return null;
  }
  // To the end of the line or the next field, or prose after a comma.
  const m = /^[ \t]*(?:=|:|is\b)[ \t]*((?:(?!,\s*[A-Za-z])[^\n@;])*)/.exec(after);
  const value = m ? m[1].replace(/[\s,;]+$/, '') : '';
  return value ? { value, length: m![0].length } : null;
}

/** Checks a final answer against the asked form, fixing what needs no model. */
export function checkAnswerForm(answer: string, form: AnswerForm): AnswerFormCheck {
  const found = entries(answer);
  const problems: string[] = [];
  const fixes: AnswerFix[] = [];
  const missing = form.fields.filter(f => !found.some(e => e.name === f.name));
  if (missing.length > 0) {
    problems.push(`it lacks ${missing.map(f => `@${f.name}[…]`).join(', ')}`);
  }
  const replacements: { index: number; length: number; text: string }[] = [];
  for (const field of form.fields) {
    const mine = found.filter(e => e.name === field.name);
    if (mine.length > 1 && new Set(mine.map(e => e.value.trim())).size > 1) {
      problems.push(`it gives @${field.name}[…] ${mine.length} times with different values`);
      continue;
    }
    for (const entry of mine) {
      const end = entry.index + entry.length;
      const moved = valueAfterPlaceholder(field, entry, answer.slice(end));
      const length = entry.length + (moved?.length ?? 0);
      const formed = field.list ? formList(field, field.list, moved?.value ?? entry.value, answer.slice(entry.index + length)) : { ...formValue(field, moved?.value ?? entry.value), consumed: 0 };
      if (moved) {
        formed.why.unshift('the value written after the brackets moved into them');
      }
      if (formed.problem) {
        problems.push(formed.problem);
      }
      if (formed.value !== entry.value || moved || formed.consumed) {
        replacements.push({ index: entry.index, length: length + formed.consumed, text: `@${field.name}[${formed.value}]` });
        if (entry === mine[0]) {
          fixes.push({ name: field.name, from: entry.value, to: formed.value, why: formed.why.join('; ') });
        }
      }
    }
  }
  let text = answer;
  for (const r of replacements.sort((a, b) => b.index - a.index)) {
    text = text.slice(0, r.index) + r.text + text.slice(r.index + r.length);
  }
  return { problems, fixes, text };
}

/** What an answer states: its `@name[value]` values, or, written without any, its text (shortened). */
export function answerValues(answer: string): string[] {
  const values = entries(answer)
    .map(e => e.value.trim())
    .filter(Boolean);
  const text = answer.trim();
  return values.length > 0 ? [...new Set(values)] : text ? [text.length > 80 ? `${text.slice(0, 79)}…` : text] : [];
}

/** The fields as the answer must write them, for feedback: `@mean[…] @std[…]`. */
export function answerTemplate(form: AnswerForm): string {
  return form.fields.map(f => `@${f.name}[${f.placeholder || '…'}]`).join(' ');
}

/** Characters the answer-only turn's thought and free answer may take. */
const THOUGHT_CHARS = 400;
const ANSWER_CHARS = 600;

const gbnfString = (text: string) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

/**
 * GBNF for a turn that may only be the final answer: `<stop_analysis>` with a
 * thought and an answer, written in the asked form when there is one (each
 * field once, a number where a number is asked, one of the listed values where
 * values are listed). Used where the loop asks for the answer, so that a small
 * model cannot answer with another step or in another form.
 */
export function answerTurnGrammar(form?: AnswerForm | null): string {
  const rules = [
    `root ::= "<stop_analysis>\\n<thought>" thought "</thought>\\n<answer>" answer "</answer>\\n</stop_analysis>"`,
    // Bounded, so that a model that rambles still reaches its answer within the turn's tokens.
    `thought ::= [^<]{1,${THOUGHT_CHARS}}`,
    `text ::= [^<]{1,${ANSWER_CHARS}}`,
    'value ::= [^\\]\\n<]{1,200}',
    'number ::= "-"? [0-9]{1,16} ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?'
  ];
  if (!form || form.fields.length === 0) {
    rules.push('answer ::= text');
  } else {
    const parts = form.fields.map(f => {
      const value = f.choices.length > 0 ? `(${f.choices.map(gbnfString).join(' | ')})` : f.numeric ? 'number' : 'value';
      return `${gbnfString(`@${f.name}[`)} ${value} "]"`;
    });
    rules.push(`answer ::= ${parts.join(' ", " ')}`);
  }
  return rules.join('\n') + '\n';
}
