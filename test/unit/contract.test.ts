import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

import { GENERATE_EVENT } from '../../src/contract';

const dir = path.join(__dirname, '..', '..', 'src', 'contract');
const files = readdirSync(dir).filter(f => f.endsWith('.ts'));

/** The statements of a file without its comments. */
function code(file: string): string {
  return readFileSync(path.join(dir, file), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '');
}

// Its imports are checked by test/unit/layers.test.ts (types only from the layers below it).
describe('the browser–host contract (src/contract)', () => {
  it('declares no functions or classes: types, and constants such as event names and error codes', () => {
    for (const file of files) {
      expect({ file, runtime: code(file).match(/^\s*(export\s+)?(async\s+)?(function|class)\b.*$/gm) }).toEqual({ file, runtime: null });
    }
  });

  it('names the events of a generation stream', () => {
    expect(Object.values(GENERATE_EVENT).sort()).toEqual(['chunk', 'done', 'error']);
  });
});
