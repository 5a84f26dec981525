/**
 * Golden files: realistic messy model outputs (test/golden/*.txt) and what the
 * parser must make of them (*.json, the `datarus parse` format). Each expected
 * file was reviewed by hand when it was added.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

import { parseDatarus } from '../../src/protocol';

const GOLDEN = path.join(__dirname, '..', 'golden');
const cases = readdirSync(GOLDEN).filter(f => f.endsWith('.txt'));

describe('golden transcripts', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
  });

  it.each(cases)('%s', file => {
    const text = readFileSync(path.join(GOLDEN, file), 'utf8');
    const expected = JSON.parse(readFileSync(path.join(GOLDEN, file.replace(/\.txt$/, '.json')), 'utf8'));
    const { reasoning, ...result } = parseDatarus(text, { harnessObservations: file.includes('harness') });
    expect(reasoning ? { ...result, reasoning } : result).toEqual(expected);
  });
});
