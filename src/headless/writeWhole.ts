import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** Writes a file whole: to a temporary name beside it, then renamed over. */
export async function writeWhole(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}
