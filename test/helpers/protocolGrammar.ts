/**
 * The `datarus` GBNF grammar (src/host/grammar.ts) transcribed by hand into a
 * nondeterministic automaton, independent of the decoder under test: tells
 * whether a text is a sentence of the grammar, or a prefix of one.
 */
type Part = { literal: string } | { free: 'text' | 'code' };

const BRANCHES: Part[][] = [
  [
    { literal: '<step>\n<thought>' },
    { free: 'text' },
    { literal: '</thought>\n<action>python_executor</action>\n<action_input>\n' },
    { free: 'code' },
    { literal: '\n</action_input>\n</step>' }
  ],
  [
    { literal: '<stop_analysis>\n<thought>' },
    { free: 'text' },
    { literal: '</thought>\n<answer>' },
    { free: 'text' },
    { literal: '</answer>\n</stop_analysis>' }
  ]
];

/**
 * A position in a branch: `at` is the offset in a literal; in a free part, the
 * characters read so far (0 or more) and, for code, whether the last was an
 * unfinished `<` (which needs one character that is not `/`).
 */
interface State {
  branch: number;
  part: number;
  at: number;
  afterLt: boolean;
}

function key(s: State): string {
  return `${s.branch}:${s.part}:${s.at}:${s.afterLt}`;
}

/** States reachable from `s` without reading: a free part with at least one character may end. */
function closure(states: State[]): State[] {
  const out = new Map<string, State>();
  const stack = [...states];
  while (stack.length > 0) {
    const s = stack.pop()!;
    if (out.has(key(s))) {
      continue;
    }
    out.set(key(s), s);
    const part = BRANCHES[s.branch][s.part];
    if (part && 'free' in part && s.at > 0 && !s.afterLt) {
      stack.push({ branch: s.branch, part: s.part + 1, at: 0, afterLt: false });
    }
  }
  return [...out.values()];
}

function step(s: State, ch: string): State[] {
  const part = BRANCHES[s.branch][s.part];
  if (!part) {
    return [];
  }
  if ('literal' in part) {
    if (part.literal[s.at] !== ch) {
      return [];
    }
    return s.at + 1 === part.literal.length
      ? [{ branch: s.branch, part: s.part + 1, at: 0, afterLt: false }]
      : [{ ...s, at: s.at + 1 }];
  }
  if (part.free === 'text') {
    return ch === '<' ? [] : [{ ...s, at: s.at + 1 }];
  }
  if (s.afterLt) {
    return ch === '/' ? [] : [{ ...s, at: s.at + 1, afterLt: false }];
  }
  return [{ ...s, at: s.at + 1, afterLt: ch === '<' }];
}

function run(text: string): State[] {
  let states = closure(BRANCHES.map((_, branch) => ({ branch, part: 0, at: 0, afterLt: false })));
  for (const ch of text) {
    states = closure(states.flatMap(s => step(s, ch)));
    if (states.length === 0) {
      return [];
    }
  }
  return states;
}

/** Whether `text` is a whole sentence of the protocol grammar. */
export function isProtocolSentence(text: string): boolean {
  return run(text).some(s => s.part === BRANCHES[s.branch].length);
}

/** Whether some text can follow `text` to make a sentence (a turn cut off by its token limit). */
export function isProtocolPrefix(text: string): boolean {
  return run(text).length > 0;
}
