/** The data files of headless episodes: from a tasks file, kept inside their data folder. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import type { DataFile } from './kernels';
import { UsageError } from './usageError';

/**
 * `file` inside `dir`, or an error: names from a tasks file must not lead out
 * of the data folder (`../secret.csv`, an absolute path).
 */
export function fileInside(dir: string, file: string): string {
  const root = path.resolve(dir);
  const resolved = path.resolve(root, file);
  if (path.isAbsolute(file) || (resolved !== root && !resolved.startsWith(root + path.sep))) {
    throw new UsageError(`the data file "${file}" is outside the data folder ${root}`);
  }
  return resolved;
}

/** The data file of a DABench task, checked: inside the data folder, and there. */
export async function taskDataFiles(fileName: string | undefined, dataDir: string): Promise<DataFile[]> {
  if (!fileName) {
    return [];
  }
  const source = fileInside(dataDir, fileName);
  if (!(await fs.stat(source).then(s => s.isFile(), () => false))) {
    throw new UsageError(`the data file ${fileName} is missing from ${dataDir}`);
  }
  return [{ name: path.basename(fileName), source }];
}
