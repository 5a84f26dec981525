import type { Token, Tokenizer } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import { KnownSegments, tokenizeKeepingGenerated } from '../../src/host/generation/tokens';

/** One token per character: its char code. Records what it was asked to tokenize. */
function charTokenizer(calls: string[] = []): Tokenizer {
  return ((text: string) => {
    calls.push(text);
    return [...text].map(c => c.charCodeAt(0) as Token);
  }) as unknown as Tokenizer;
}

class NoSpecialTokens {}

const tokenize = (text: string, known: KnownSegments, calls?: string[]) =>
  tokenizeKeepingGenerated(text, charTokenizer(calls), known, NoSpecialTokens as any);

describe('tokenizeKeepingGenerated', () => {
  it('substitutes each known segment with its exact tokens, leftmost and longest first', () => {
    const known: KnownSegments = new Map([
      ['bc', [900 as Token]],
      ['bcd', [901 as Token]],
      ['f', [902 as Token]]
    ]);
    const calls: string[] = [];
    expect(tokenize('abcdefbcf', known, calls)).toEqual([97, 901, 101, 902, 900, 902]);
    expect(calls).toEqual(['a', 'e']);
  });

  it('finds later occurrences of a segment after substituting others', () => {
    const known: KnownSegments = new Map([
      ['x', [1 as Token]],
      ['yy', [2 as Token]]
    ]);
    expect(tokenize('x.yy.x.yy.x', known)).toEqual([1, 46, 2, 46, 1, 46, 2, 46, 1]);
  });

  it('returns prompts of hundreds of thousands of tokens without overflowing the stack', () => {
    const text = 'a'.repeat(500_000);
    expect(tokenize(text, new Map())).toHaveLength(500_000);
    const known: KnownSegments = new Map([['zz', Array.from({ length: 300_000 }, () => 7 as Token)]]);
    expect(tokenize(`b${'zz'}b`, known)).toHaveLength(300_002);
  });

  it('stays linear in the text with many segments, each occurring many times', () => {
    // 256 segments, each 200 times: a re-scan of the whole text per substitution was 51,200 scans.
    const segments = Array.from({ length: 256 }, (_, i) => `<${i}>`);
    const known: KnownSegments = new Map(segments.map((s, i) => [s, [(1000 + i) as Token]]));
    const text = Array.from({ length: 200 }, () => segments.join(' ')).join('\n');
    const tokens = tokenize(text, known);
    expect(tokens.filter(t => t >= 1000)).toEqual(Array.from({ length: 200 }, () => segments.map((_, i) => 1000 + i)).flat());
  });
});
