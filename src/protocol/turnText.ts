/**
 * The protocol's fixed text, once. A model turn is one of two shapes, each a
 * run of fixed text and free parts; the formatter fills the free parts, the
 * host's GBNF grammar (src/host/grammar.ts) and its segmented decoder
 * (src/host/protocolDecoder.ts) are derived from these shapes, and the test
 * automaton reads the GBNF itself. Edit the text here and all of them follow.
 */
import { PYTHON_EXECUTOR } from './types';

/** Free text may not contain `<`; code may contain `<` but not `</`. */
export type FreeKind = 'text' | 'code';

/** A piece of a turn: fixed text, or a free part the model writes. */
export type TurnPart = { literal: string } | { free: FreeKind };

/** What ends each kind of free part: the text it may not contain. */
export const FREE_PART_END: Record<FreeKind, string> = { text: '<', code: '</' };

/** The model's choice of turn: the text that opens each shape. */
export const TURN_OPENERS = ['<step>', '<stop_analysis>'] as const;
export type TurnOpener = (typeof TURN_OPENERS)[number];

/** A step's shape; the harness executes only `PYTHON_EXECUTOR`, other actions exist for tests and exports. */
export function stepShape(action: string = PYTHON_EXECUTOR): TurnPart[] {
  return [
    { literal: '<step>\n<thought>' },
    { free: 'text' },
    { literal: `</thought>\n<action>${action}</action>\n<action_input>\n` },
    { free: 'code' },
    { literal: '\n</action_input>\n</step>' }
  ];
}

/** The two turn shapes the model may write, each starting with its opener. */
export const TURN_SHAPES: Record<TurnOpener, readonly TurnPart[]> = {
  '<step>': stepShape(),
  '<stop_analysis>': [
    { literal: '<stop_analysis>\n<thought>' },
    { free: 'text' },
    { literal: '</thought>\n<answer>' },
    { free: 'text' },
    { literal: '</answer>\n</stop_analysis>' }
  ]
};

/** A shape with its free parts filled in order. */
export function fillShape(shape: readonly TurnPart[], values: readonly string[]): string {
  let next = 0;
  return shape.map(part => ('literal' in part ? part.literal : values[next++])).join('');
}
