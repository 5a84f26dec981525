/**
 * JSONL files that survive being interrupted (the episode log, eval results,
 * rollouts): each row is appended with one write of a whole line and
 * `fdatasync`, so a process killed mid-write can leave at most a cut-off last
 * line, which the reader skips and the next append starts after on a fresh
 * line. A failed write (a full disk) truncates the file back to where it was.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export async function appendJsonLine(file: string, row: object): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const line = Buffer.from(JSON.stringify(row) + '\n', 'utf8');
  const handle = await fs.open(file, 'a+');
  try {
    const { size } = await handle.stat();
    let data = line;
    if (size > 0) {
      // A crash may have left a cut-off last line: start this row on a line of its own.
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) {
        data = Buffer.concat([Buffer.from('\n'), line]);
      }
    }
    try {
      // A write may be short (a nearly full disk takes part of it): write the rest, which then fails for real.
      for (let written = 0; written < data.length; ) {
        written += (await handle.write(data, written, data.length - written)).bytesWritten;
      }
      await handle.datasync();
    } catch (err) {
      // No half row for the next reader: put the file back as it was.
      await handle.truncate(size).catch(() => undefined);
      throw err;
    }
  } finally {
    await handle.close();
  }
}

/** The complete JSON rows of a file (none when it does not exist); a cut-off or unreadable line is reported and skipped. */
export async function readJsonLines<T = Record<string, unknown>>(file: string, onSkip?: (line: number, reason: string) => void): Promise<T[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw err;
  }
  const rows: T[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') {
      return;
    }
    try {
      rows.push(JSON.parse(line) as T);
    } catch {
      onSkip?.(i + 1, i === lines.length - 1 ? 'cut-off last line (a write was interrupted)' : 'not valid JSON');
    }
  });
  return rows;
}
