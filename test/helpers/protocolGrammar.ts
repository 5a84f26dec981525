/**
 * A recognizer for the GBNF text llama.cpp is given, independent of the code
 * that writes it and of the decoder under test: it reads the grammar itself
 * (DATARUS_AGENTIC_GRAMMAR by default), so editing the grammar is seen by every
 * test that checks text against it. It knows the subset the protocol grammar
 * uses: rules of alternatives, literals with \n \\ \" escapes, character
 * classes (negated or not), rule references, and `+ * ?` after an item.
 */
import { DATARUS_AGENTIC_GRAMMAR } from '../../src/host/grammar';

type Item = { char: (ch: string) => boolean } | { rule: string };

/** A rule's alternatives, each a sequence of items. */
type Rules = Map<string, Item[][]>;

function unescape(ch: string): string {
  return ch === 'n' ? '\n' : ch === 't' ? '\t' : ch === 'r' ? '\r' : ch;
}

export function parseGbnf(text: string): Rules {
  const rules: Rules = new Map();
  let anonymous = 0;
  const lines = text.split('\n').filter(line => line.trim() !== '' && !line.trim().startsWith('#'));
  for (const line of lines) {
    const match = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*::=(.*)$/.exec(line);
    if (!match) {
      throw new Error(`not a rule: ${line}`);
    }
    const [, name, body] = match;
    const alternatives: Item[][] = [[]];
    let i = 0;
    while (i < body.length) {
      const c = body[i];
      let items: Item[] = [];
      if (c === ' ' || c === '\t') {
        i++;
        continue;
      } else if (c === '|') {
        alternatives.push([]);
        i++;
        continue;
      } else if (c === '"') {
        i++;
        while (body[i] !== '"') {
          if (i >= body.length) {
            throw new Error(`unclosed literal in ${name}`);
          }
          const ch = body[i] === '\\' ? unescape(body[++i]) : body[i];
          items.push({ char: x => x === ch });
          i++;
        }
        i++;
      } else if (c === '[') {
        i++;
        const negated = body[i] === '^';
        if (negated) {
          i++;
        }
        const chars: string[] = [];
        while (body[i] !== ']') {
          if (i >= body.length) {
            throw new Error(`unclosed class in ${name}`);
          }
          chars.push(body[i] === '\\' ? unescape(body[++i]) : body[i]);
          i++;
        }
        i++;
        items = [{ char: x => chars.includes(x) !== negated }];
      } else if (/[A-Za-z]/.test(c)) {
        const ref = /^[A-Za-z][A-Za-z0-9_-]*/.exec(body.slice(i))![0];
        items = [{ rule: ref }];
        i += ref.length;
      } else {
        throw new Error(`unknown GBNF at ${JSON.stringify(body.slice(i))} in ${name}`);
      }
      const repeat = body[i];
      if (repeat === '+' || repeat === '*' || repeat === '?') {
        i++;
        // The repeated item (a literal's characters together) becomes a rule of its own.
        const once = `_${anonymous++}`;
        const more = `_${anonymous++}`;
        rules.set(once, [items]);
        rules.set(more, repeat === '?' ? [[], [{ rule: once }]] : [[], [{ rule: once }, { rule: more }]]);
        items = repeat === '+' ? [{ rule: once }, { rule: more }] : [{ rule: more }];
      }
      alternatives[alternatives.length - 1].push(...items);
    }
    rules.set(name, alternatives);
  }
  return rules;
}

/** What is left to match, first item first; an empty stack has matched the whole root. */
type Stack = readonly Item[];

export class GrammarAutomaton {
  private readonly _rules: Rules;
  private readonly _ids = new Map<Item, number>();

  constructor(gbnf: string = DATARUS_AGENTIC_GRAMMAR) {
    this._rules = parseGbnf(gbnf);
    if (!this._rules.has('root')) {
      throw new Error('the grammar has no root');
    }
  }

  /** Whether `text` is a whole sentence of the grammar. */
  isSentence(text: string): boolean {
    return this._run(text).some(stack => stack.length === 0);
  }

  /** Whether some text can follow `text` to make a sentence. */
  isPrefix(text: string): boolean {
    return this._run(text).length > 0;
  }

  private _key(stack: Stack): string {
    return stack.map(item => this._ids.get(item) ?? this._ids.set(item, this._ids.size).get(item)).join(',');
  }

  /** Expands rule references at the top until each stack starts with a character or is empty. */
  private _expand(stacks: Stack[]): Stack[] {
    const out = new Map<string, Stack>();
    const seen = new Set<string>();
    const pending = [...stacks];
    while (pending.length > 0) {
      const stack = pending.pop()!;
      const key = this._key(stack);
      if (seen.has(key)) {
        continue;
      }
      seen.add(key);
      const [top, ...rest] = stack;
      if (top === undefined || 'char' in top) {
        out.set(key, stack);
        continue;
      }
      const alternatives = this._rules.get(top.rule);
      if (!alternatives) {
        throw new Error(`no rule ${top.rule}`);
      }
      for (const alternative of alternatives) {
        pending.push([...alternative, ...rest]);
      }
    }
    return [...out.values()];
  }

  private _run(text: string): Stack[] {
    let stacks = this._expand([[{ rule: 'root' }]]);
    for (const ch of text) {
      const next = stacks.flatMap(([top, ...rest]) => (top !== undefined && 'char' in top && top.char(ch) ? [rest] : []));
      stacks = this._expand(next);
      if (stacks.length === 0) {
        return [];
      }
    }
    return stacks;
  }
}

const PROTOCOL = new GrammarAutomaton();

/** Whether `text` is a whole sentence of the protocol grammar. */
export function isProtocolSentence(text: string): boolean {
  return PROTOCOL.isSentence(text);
}

/** Whether some text can follow `text` to make a sentence (a turn cut off by its token limit). */
export function isProtocolPrefix(text: string): boolean {
  return PROTOCOL.isPrefix(text);
}
