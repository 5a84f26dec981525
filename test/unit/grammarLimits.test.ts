import { DATARUS_AGENTIC_GRAMMAR } from '../../src/host/grammar';
import { checkGrammarLimits, measureGrammar } from '../../src/host/grammarLimits';
import { ERROR_STATUS } from '../../src/host/http/routes/errorStatus';

describe('measureGrammar', () => {
  it('measures the built-in grammar as small', () => {
    expect(measureGrammar(DATARUS_AGENTIC_GRAMMAR)).toEqual({ depth: 0, rules: 6, alternatives: 2, repetition: 0 });
  });

  it('counts nesting depth, rules, alternatives and repetitions', () => {
    const shape = measureGrammar('root ::= ((a | b) c){2,7}\na ::= "x"{3}\nb ::= "y" | "z"\nc ::= ("w")');
    expect(shape).toEqual({ depth: 2, rules: 4, alternatives: 2, repetition: 7 });
  });

  it('ignores brackets, bars and ::= inside literals, classes and comments, escapes included', () => {
    const shape = measureGrammar(String.raw`root ::= "(((\"|::=" [(|\]{9999}] # ((( | ::= {9999}
x ::= "\\" ")"`);
    expect(shape).toEqual({ depth: 0, rules: 2, alternatives: 0, repetition: 0 });
  });

  it('reads a repetition count of any length without losing precision', () => {
    expect(measureGrammar('root ::= "a"{0,99999999999999999999}').repetition).toBe(Infinity);
    expect(measureGrammar('root ::= "a"{0000012}').repetition).toBe(12);
  });

  it('scans in one pass without recursion, so its own stack cannot overflow', () => {
    const deep = `root ::= ${'('.repeat(1_000_000)}"a"${')'.repeat(1_000_000)}`;
    expect(measureGrammar(deep).depth).toBe(1_000_000);
  });
});

describe('checkGrammarLimits', () => {
  it('accepts grammars within the bounds', () => {
    expect(() => checkGrammarLimits(DATARUS_AGENTIC_GRAMMAR)).not.toThrow();
    expect(() => checkGrammarLimits(`root ::= ${'('.repeat(64)}"a"${')'.repeat(64)}`)).not.toThrow();
  });

  it('refuses with a 400 invalid_grammar naming every bound exceeded', () => {
    const grammar = `root ::= ${'('.repeat(65)}"a"{5000}${')'.repeat(65)}`;
    expect(() => checkGrammarLimits(grammar)).toThrow(
      expect.objectContaining({
        code: 'invalid_grammar',
        message: 'the grammar is too complex: groups ( ) nested 65 deep (at most 64), a repetition { } of 5000 (at most 1000)'
      })
    );
    // The HTTP layer's table gives the code its status.
    expect(ERROR_STATUS.invalid_grammar).toBe(400);
  });

  it('takes other limits when given', () => {
    expect(() => checkGrammarLimits('root ::= "a" | "b" | "c"', { maxDepth: 1, maxRules: 1, maxAlternatives: 1, maxRepetition: 1 })).toThrow(
      /2 "\|" between alternatives \(at most 1\)/
    );
  });
});
