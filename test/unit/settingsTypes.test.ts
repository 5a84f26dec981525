import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const root = path.join(__dirname, '..', '..');
const schemaDir = path.join(root, 'schema');
const OUTPUT = path.join(root, 'src', 'lab', 'settingsTypes.ts');
const SCHEMAS = [
  ['agent.json', 'AgentSettings'],
  ['host-status.json', 'HostStatusSettings']
];

/**
 * What the generator writes for the schemas in `dir`. It runs as its own Node process, as
 * `npm run` runs it: json-schema-to-typescript loads prettier, which Jest's module system cannot.
 */
async function settingsTypes(dir: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(root, 'scripts', 'settings-types.cjs'), '--print', dir]);
  return stdout;
}

describe('settings types', () => {
  it('src/lab/settingsTypes.ts is what the schemas generate (npm run build:settings-types after changing a schema)', async () => {
    expect(readFileSync(OUTPUT, 'utf8')).toBe(await settingsTypes(schemaDir));
  });

  it('a property added to a schema changes the generated types, required when it has a default', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'datarus-schema-'));
    try {
      for (const [file] of SCHEMAS) {
        copyFileSync(path.join(schemaDir, file), path.join(dir, file));
      }
      const agent = JSON.parse(readFileSync(path.join(dir, 'agent.json'), 'utf8'));
      agent.properties.extraSetting = { title: 'Extra', type: 'integer', default: 3 };
      agent.properties.optionalSetting = { type: 'string' };
      writeFileSync(path.join(dir, 'agent.json'), JSON.stringify(agent));
      const generated = await settingsTypes(dir);
      expect(generated).not.toBe(readFileSync(OUTPUT, 'utf8'));
      expect(generated).toContain('  extraSetting: number\n');
      expect(generated).toContain('  optionalSetting?: string\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every property of each schema is in its type, with the schema title in its comment', async () => {
    const generated = await settingsTypes(schemaDir);
    for (const [file, name] of SCHEMAS) {
      const schema = JSON.parse(readFileSync(path.join(schemaDir, file), 'utf8'));
      const body = generated.slice(generated.indexOf(`export interface ${name} {`));
      for (const [key, property] of Object.entries<{ title?: string }>(schema.properties)) {
        expect(body).toMatch(new RegExp(`\\n  ${key}: `));
        if (property.title) {
          expect(body).toContain(property.title);
        }
      }
    }
  });
});
