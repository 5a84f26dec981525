/**
 * GBNF grammars for constrained decoding. `DATARUS_AGENTIC_GRAMMAR` forces one
 * well-formed agentic turn: a `<step>` with a thought and code, or the final
 * `<stop_analysis>`. It is written from the protocol's turn shapes
 * (src/protocol/turnText.ts): free text cannot contain `<`; code can, except `</`.
 */
import { FREE_PART_END, FreeKind, TURN_OPENERS, TURN_SHAPES, TurnOpener, TurnPart } from '../protocol/turnText';

/** The rule each turn shape is written as. */
const SHAPE_RULES: Record<TurnOpener, string> = { '<step>': 'step', '<stop_analysis>': 'stop' };

/** Rule names are padded so that the `::=` line up. */
function rule(name: string, body: string): string {
  return `${name.padEnd(12)}::= ${body}\n`;
}

function gbnfLiteral(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function gbnfClassChar(ch: string): string {
  return /[\]\\^-]/.test(ch) ? `\\${ch}` : ch;
}

/**
 * A free part's rules: one or more characters that never spell its end. An
 * end of one character is a negated class; of two, a character that is not
 * the first, or the first followed by one that is not the second.
 */
function freeRules(kind: FreeKind): string {
  const end = FREE_PART_END[kind];
  const not = (ch: string) => `[^${gbnfClassChar(ch)}]`;
  if (end.length === 1) {
    return rule(kind, `${not(end)}+`);
  }
  if (end.length === 2) {
    const char = `${kind}char`;
    return rule(kind, `${char}+`) + rule(char, `${not(end[0])} | ${gbnfLiteral(end[0])} ${not(end[1])}`);
  }
  throw new Error(`a free part's end of ${end.length} characters has no rule`);
}

function shapeBody(shape: readonly TurnPart[]): string {
  return shape.map(part => ('literal' in part ? gbnfLiteral(part.literal) : part.free)).join(' ');
}

function agenticGrammar(): string {
  const kinds = [...new Set(TURN_OPENERS.flatMap(o => TURN_SHAPES[o].flatMap(p => ('free' in p ? [p.free] : []))))];
  return (
    '\n' +
    rule('root', TURN_OPENERS.map(o => SHAPE_RULES[o]).join(' | ')) +
    TURN_OPENERS.map(o => rule(SHAPE_RULES[o], shapeBody(TURN_SHAPES[o]))).join('') +
    kinds.map(freeRules).join('')
  );
}

export const DATARUS_AGENTIC_GRAMMAR = agenticGrammar();
