/**
 * Property tests of the parser: round-trips, chunking invariance, and that no
 * input throws or hangs.
 */
import fc from 'fast-check';
import {
  DatarusStreamParser,
  formatAnswer,
  formatStep,
  normalizeCode,
  parseDatarus,
  ParseResult
} from '../../src/protocol';

/** Text that cannot contain a tag: `<` never starts a letter or slash. */
const plainText = fc
  .string({ unit: fc.constantFrom('a', 'b', ' ', '\n', '1', '=', '(', ')', '.', '"', '<', '>', '_', '\t', 'é', '#') , maxLength: 60 })
  .map(s => s.replace(/<(?=[\/A-Za-z_])/g, '< '));

const thought = plainText.map(s => s.trim()).filter(s => s.length > 0);
const codeLine = plainText.map(s => s.split('\n').join(' ').trimEnd());
const code = fc
  .array(codeLine, { minLength: 1, maxLength: 6 })
  .map(lines => lines.join('\n'))
  .filter(c => c.trim().length > 0 && !c.includes('```'));

const step = fc.record({ thought, code });
const answer = fc.record({ thought, text: thought });

/** Splits a text at random points. */
function chunkings(text: string) {
  return fc
    .uniqueArray(fc.integer({ min: 1, max: Math.max(1, text.length - 1) }), { maxLength: 12 })
    .map(cuts => {
      const sorted = cuts.filter(c => c < text.length).sort((a, b) => a - b);
      const chunks: string[] = [];
      let last = 0;
      for (const cut of sorted) {
        chunks.push(text.slice(last, cut));
        last = cut;
      }
      chunks.push(text.slice(last));
      return chunks;
    });
}

function parseChunks(chunks: string[]): { result: ParseResult; events: string[] } {
  const parser = new DatarusStreamParser();
  const events: string[] = [];
  for (const chunk of chunks) {
    events.push(...parser.feed(chunk).map(e => JSON.stringify(e)));
  }
  events.push(...parser.end().map(e => JSON.stringify(e)));
  return { result: parser.result(), events };
}

/** Fragments that build realistic and broken transcripts. */
const fragment = fc.oneof(
  plainText,
  fc.constantFrom(
    '<step>', '</step>', '<thought>', '</thought>', '<action>', '</action>', 'python_executor',
    '<action_input>', '</action_input>', '<observation>', '</observation>', '<stop_analysis>',
    '</stop_analysis>', '<answer>', '</answer>', '<think>', '</think>', '<Step>', '</STEP>',
    '```python\n', '\n```', '<', '</', '<st', '<step ', '<unknown>', '< step>', '\n    '
  )
);
const transcript = fc.array(fragment, { maxLength: 40 }).map(parts => parts.join(''));

describe('parser properties', () => {
  it('format → parse gives the steps and the answer back', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 4 }), fc.option(answer, { nil: undefined }), (steps, ans) => {
        const text = steps.map(formatStep).join('\n') + (ans ? `\n${formatAnswer(ans)}` : '');
        const result = parseDatarus(text);
        expect(result.violations).toEqual([]);
        expect(result.steps).toEqual(
          steps.map(s => ({ thought: s.thought, action: 'python_executor', code: normalizeCode(s.code).code }))
        );
        expect(result.answer).toEqual(ans ?? null);
      }),
      { numRuns: 500 }
    );
  });

  it('any chunking of a valid transcript gives the same result and events as feeding it whole', () => {
    const text = fc
      .tuple(fc.array(step, { minLength: 1, maxLength: 3 }), answer)
      .map(([steps, ans]) => steps.map(formatStep).join('\n') + formatAnswer(ans));
    fc.assert(
      fc.property(text.chain(t => fc.tuple(fc.constant(t), chunkings(t))), ([t, chunks]) => {
        expect(parseChunks(chunks)).toEqual(parseChunks([t]));
      }),
      { numRuns: 500 }
    );
  });

  it('any chunking of a broken transcript gives the same result and events as feeding it whole', () => {
    fc.assert(
      fc.property(transcript.chain(t => fc.tuple(fc.constant(t), chunkings(t))), ([t, chunks]) => {
        expect(parseChunks(chunks)).toEqual(parseChunks([t]));
      }),
      { numRuns: 2000 }
    );
  });

  it('arbitrary strings never throw or hang, and always give a well-typed result', () => {
    const anyText = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), transcript);
    fc.assert(
      fc.property(anyText, fc.integer({ min: 1, max: 50 }), (text, size) => {
        const parser = new DatarusStreamParser();
        for (let i = 0; i < text.length; i += size) {
          parser.feed(text.slice(i, i + size));
        }
        parser.end();
        const result = parser.result();
        expect(Array.isArray(result.steps)).toBe(true);
        expect(Array.isArray(result.violations)).toBe(true);
        for (const s of result.steps) {
          expect(typeof s.code).toBe('string');
        }
      }),
      { numRuns: 10000 }
    );
  });

  it('scales linearly: a huge text of angle brackets parses quickly', () => {
    const parser = new DatarusStreamParser();
    const chunk = '<'.repeat(1000) + '</st' + 'x<'.repeat(500);
    for (let i = 0; i < 200; i++) {
      parser.feed(chunk);
    }
    parser.end();
    expect(parser.result().violations.map(v => v.kind)).toContain('no_structure');
  });
});
