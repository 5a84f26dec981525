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

describe('the browser–host contract (src/contract)', () => {
  it('imports only types, so that neither build takes code from the other side', () => {
    for (const file of files) {
      const imports = code(file).match(/^(import|export)\b[^;]*\bfrom\s+'[^']+'/gm) ?? [];
      for (const statement of imports) {
        const local = /from\s+'\.\/[^']+'$/.test(statement);
        expect({ file, statement, typeOnly: /^(import|export) type\b/.test(statement) || (local && statement.startsWith('export *')) }).toEqual({
          file,
          statement,
          typeOnly: true
        });
      }
    }
  });

  it('declares no functions or classes: types, and constants such as event names', () => {
    for (const file of files) {
      expect({ file, runtime: code(file).match(/^\s*(export\s+)?(async\s+)?(function|class)\b.*$/gm) }).toEqual({ file, runtime: null });
    }
  });

  it('names the events of a generation stream', () => {
    expect(Object.values(GENERATE_EVENT).sort()).toEqual(['chunk', 'done', 'error']);
  });
});
