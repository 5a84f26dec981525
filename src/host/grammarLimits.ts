/**
 * Bounds on the shape of a GBNF grammar, checked before llama.cpp parses it.
 *
 * llama.cpp parses nested groups recursively on the calling thread's stack: a
 * grammar of about 18,000 nested `(` (36 kB of text, well under the request
 * size limit) overflows the stack and kills the process with SIGSEGV, an
 * error no try/catch can turn into an answer. Its own checks catch only
 * oversized repetitions. So the grammar is scanned here, in one linear pass
 * that recurses into nothing, and refused with a clear message when it nests
 * deeper or has more rules, alternatives or repetitions than any real
 * grammar needs; the bounds sit far below what was measured to be harmful.
 */
import { DomainError } from './errors';

export interface GrammarLimits {
  /** Deepest nesting of `( … )` groups. */
  maxDepth: number;
  /** Rule definitions (`name ::= …`). */
  maxRules: number;
  /** `|` separators in the whole grammar. */
  maxAlternatives: number;
  /** Largest count in a `{m}`, `{m,}` or `{m,n}` repetition. */
  maxRepetition: number;
}

export const DEFAULT_GRAMMAR_LIMITS: GrammarLimits = {
  maxDepth: 64,
  maxRules: 1000,
  maxAlternatives: 4096,
  maxRepetition: 1000
};

export interface GrammarShape {
  depth: number;
  rules: number;
  alternatives: number;
  repetition: number;
}

/**
 * Measures a grammar's shape. Literals ("…"), character classes ([…]) and
 * comments (# … end of line) are skipped with their escapes, so brackets or
 * bars inside them do not count. Syntax errors are left to llama.cpp's parser,
 * which reports them cleanly.
 */
export function measureGrammar(text: string): GrammarShape {
  const shape: GrammarShape = { depth: 0, rules: 0, alternatives: 0, repetition: 0 };
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"' || c === '[') {
      const close = c === '"' ? '"' : ']';
      i++;
      while (i < n && text[i] !== close) {
        i += text[i] === '\\' ? 2 : 1;
      }
      i++;
    } else if (c === '#') {
      while (i < n && text[i] !== '\n' && text[i] !== '\r') {
        i++;
      }
    } else if (c === '(') {
      depth++;
      shape.depth = Math.max(shape.depth, depth);
      i++;
    } else if (c === ')') {
      depth = Math.max(0, depth - 1);
      i++;
    } else if (c === '|') {
      shape.alternatives++;
      i++;
    } else if (c === ':' && text.startsWith('::=', i)) {
      shape.rules++;
      i += 3;
    } else if (c === '{') {
      i++;
      while (i < n && text[i] !== '}') {
        const start = i;
        while (i < n && text[i] >= '0' && text[i] <= '9') {
          i++;
        }
        if (i > start) {
          // Digits beyond the bound's length make the count too large whatever they are.
          const digits = text.slice(start, i).replace(/^0+/, '');
          shape.repetition = Math.max(shape.repetition, digits.length > 9 ? Infinity : Number(digits || '0'));
        } else {
          i++;
        }
      }
      i++;
    } else {
      i++;
    }
  }
  return shape;
}

/** Throws a 400 `invalid_grammar` naming the bound a grammar exceeds. */
export function checkGrammarLimits(text: string, limits: GrammarLimits = DEFAULT_GRAMMAR_LIMITS): void {
  const shape = measureGrammar(text);
  const count = (value: number) => (Number.isFinite(value) ? String(value) : 'over a billion');
  const problems = [
    shape.depth > limits.maxDepth && `groups ( ) nested ${shape.depth} deep (at most ${limits.maxDepth})`,
    shape.rules > limits.maxRules && `${shape.rules} rules (at most ${limits.maxRules})`,
    shape.alternatives > limits.maxAlternatives && `${shape.alternatives} "|" between alternatives (at most ${limits.maxAlternatives})`,
    shape.repetition > limits.maxRepetition && `a repetition { } of ${count(shape.repetition)} (at most ${limits.maxRepetition})`
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) {
    throw new DomainError('invalid_grammar', `the grammar is too complex: ${problems.join(', ')}`);
  }
}
