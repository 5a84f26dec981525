/**
 * The protocol's fixed text has one source (src/protocol/turnText.ts); the
 * GBNF that llama.cpp enforces, the segmented decoder and the formatter are
 * derived from it. These pins hold the bytes each of them had before they were
 * derived, so the derivation changes nothing a model or a prompt cache sees.
 */
import { DATARUS_AGENTIC_GRAMMAR } from '../../src/host/grammar';
import { closeCode, FIRST_CHARACTERS_GRAMMAR, TURN_OPENERS, TURN_PARTS } from '../../src/host/protocolDecoder';
import fc from 'fast-check';
import { formatAnswer, formatStep, TURN_SHAPES } from '../../src/protocol';
import { GrammarAutomaton, isProtocolSentence } from '../helpers/protocolGrammar';

/** A turn as the decoder spells it: its opener, its parts after it, and a step's closing after the code. */
function decoderTurn(opener: (typeof TURN_OPENERS)[number], free: string[]): string {
  let next = 0;
  let text: string = opener;
  for (const part of TURN_PARTS[opener]) {
    text += 'literal' in part ? part.literal : free[next++];
  }
  return opener === '<step>' ? text + closeCode(free[free.length - 1]) : text;
}

/** Each double-quoted literal of a GBNF text, where it is. */
function literalsOf(gbnf: string): { at: number; length: number }[] {
  return [...gbnf.matchAll(/"(?:[^"\\]|\\.)*"/g)].map(m => ({ at: m.index!, length: m[0].length }));
}

/** The grammar with one literal changed by a character: `<step>` becomes `<stXp>`, and so on. */
function withLiteralChanged(gbnf: string, literal: { at: number; length: number }): string {
  const inside = gbnf.slice(literal.at + 1, literal.at + literal.length - 1);
  const letter = inside.search(/[a-z<]/);
  const changed = inside.slice(0, letter) + 'X' + inside.slice(letter + 1);
  return gbnf.slice(0, literal.at + 1) + changed + gbnf.slice(literal.at + literal.length - 1);
}

describe('the derived protocol text, byte for byte', () => {
  it('is the GBNF llama.cpp was given before', () => {
    expect(DATARUS_AGENTIC_GRAMMAR).toBe(
      '\n' +
        'root        ::= step | stop\n' +
        'step        ::= "<step>\\n<thought>" text "</thought>\\n<action>python_executor</action>\\n<action_input>\\n" code "\\n</action_input>\\n</step>"\n' +
        'stop        ::= "<stop_analysis>\\n<thought>" text "</thought>\\n<answer>" text "</answer>\\n</stop_analysis>"\n' +
        'text        ::= [^<]+\n' +
        'code        ::= codechar+\n' +
        'codechar    ::= [^<] | "<" [^/]\n'
    );
    expect(FIRST_CHARACTERS_GRAMMAR).toBe('root ::= [^<]+');
  });

  it('is the decoder fixed text it appended before', () => {
    expect(TURN_OPENERS).toEqual(['<step>', '<stop_analysis>']);
    expect(TURN_PARTS).toEqual({
      '<step>': [
        { literal: '\n<thought>' },
        { free: 'text' },
        { literal: '</thought>\n<action>python_executor</action>\n<action_input>\n' },
        { free: 'code' }
      ],
      '<stop_analysis>': [
        { literal: '\n<thought>' },
        { free: 'text' },
        { literal: '</thought>\n<answer>' },
        { free: 'text' },
        { literal: '</answer>\n</stop_analysis>' }
      ]
    });
    expect(['x', 'x\n', 'x<', ''].map(closeCode)).toEqual([
      '\n</action_input>\n</step>',
      '</action_input>\n</step>',
      '\n\n</action_input>\n</step>',
      '\n</action_input>\n</step>'
    ]);
  });

  it('is the text the formatter wrote before', () => {
    expect(formatStep({ thought: 'T', code: 'C' })).toBe('<step>\n<thought>T</thought>\n<action>python_executor</action>\n<action_input>\nC\n</action_input>\n</step>');
    expect(formatStep({ thought: 'T', code: 'C', action: 'other' })).toBe('<step>\n<thought>T</thought>\n<action>other</action>\n<action_input>\nC\n</action_input>\n</step>');
    expect(formatAnswer({ thought: 'T', text: 'A' })).toBe('<stop_analysis>\n<thought>T</thought>\n<answer>A</answer>\n</stop_analysis>');
  });
});

/** Free text as the protocol allows it: no `<` in text, no `</` in code. */
const text = fc.string({ unit: fc.constantFrom('a', ' ', '\n', '1', '>', '"', 'é', '\\'), minLength: 1, maxLength: 20 });
const code = fc
  .string({ unit: fc.constantFrom('x', ' ', '\n', '<', '/', '=', '"'), minLength: 1, maxLength: 30 })
  .filter(c => !c.includes('</') && !c.endsWith('<'));

describe('the grammar, the formatter and the decoder agree', () => {
  it('the grammar accepts every step and answer the formatter writes', () => {
    fc.assert(
      fc.property(text, code, text, (thought, source, answer) => {
        expect(isProtocolSentence(formatStep({ thought, code: source }))).toBe(true);
        expect(isProtocolSentence(formatAnswer({ thought, text: answer }))).toBe(true);
      }),
      { seed: 24, numRuns: 200 }
    );
  });

  it('the grammar accepts every turn the decoder spells', () => {
    fc.assert(
      fc.property(text, code.filter(c => c !== '\n'), text, (thought, source, answer) => {
        expect(isProtocolSentence(decoderTurn('<step>', [thought, source]))).toBe(true);
        expect(isProtocolSentence(decoderTurn('<stop_analysis>', [thought, answer]))).toBe(true);
      }),
      { seed: 24, numRuns: 200 }
    );
  });

  it('the grammar refuses a step with another action, which the formatter can write but the harness never runs', () => {
    expect(isProtocolSentence(formatStep({ thought: 't', code: 'x', action: 'shell' }))).toBe(false);
  });

  /** Text with every kind of character the grammar's literals and classes decide on. */
  const samples = {
    format: [formatStep({ thought: 'Look.', code: 'a < b\nprint(1)' }), formatAnswer({ thought: 'Done.', text: '6' })],
    decoder: [decoderTurn('<step>', ['Look.', 'a < b\nprint(1)\n']), decoderTurn('<stop_analysis>', ['Done.', '6'])]
  };

  it('a copy of the grammar with any one literal changed refuses what the formatter and the decoder write', () => {
    const literals = literalsOf(DATARUS_AGENTIC_GRAMMAR);
    // Both shapes' fixed text and the `<` of code's `<` [^/].
    expect(literals.length).toBe(TURN_SHAPES['<step>'].length - 2 + TURN_SHAPES['<stop_analysis>'].length - 2 + 1);
    for (const literal of literals) {
      const mutated = new GrammarAutomaton(withLiteralChanged(DATARUS_AGENTIC_GRAMMAR, literal));
      expect(samples.format.every(t => mutated.isSentence(t))).toBe(false);
      expect(samples.decoder.every(t => mutated.isSentence(t))).toBe(false);
    }
    const real = new GrammarAutomaton(DATARUS_AGENTIC_GRAMMAR);
    expect([...samples.format, ...samples.decoder].every(t => real.isSentence(t))).toBe(true);
  });
});
