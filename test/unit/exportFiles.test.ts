/**
 * Exports never destroy: a refused export leaves every file that was there as
 * it was, paths are checked after links are followed, and a NUL byte is the
 * request's fault.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Episode, StoredEpisode } from '../../src/episode/types';
import { Redactor } from '../../src/episode/redact';
import { DomainError } from '../../src/host/errors';
import { exportTarget, writeExport } from '../../src/host/episodes/exportFiles';

function stored(id: string): StoredEpisode {
  const now = new Date().toISOString();
  const episode = {
    schemaVersion: 1,
    id,
    question: `Question of ${id}?`,
    model: 'datarus-test-tiny',
    startedAt: now,
    endedAt: now,
    status: 'answered',
    steps: [
      { index: 0, thought: 'Sum.', code: 'print(6)', status: 'ok', observation: '6', violations: [], raw: '', startedAt: now, endedAt: now, modelMs: 1, kernelMs: 1 }
    ],
    answer: { thought: 'Done.', text: '6' }
  } as Episode;
  return { episode, feedback: [], edits: [] };
}

/** Every file under `dir` with its content: what a refused export must leave as it was. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      files[path.relative(dir, file)] = readFileSync(file, 'utf8');
    }
  }
  return files;
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e
  );
  expect(err).toBeInstanceOf(DomainError);
  return (err as DomainError).code;
}

const redactor = new Redactor();
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'datarus-export-'));

describe('a repeated export loses nothing', () => {
  it('ipynb into a folder that holds an earlier export: refused, every notebook left as it was', async () => {
    const out = path.join(tmp(), 'notebooks');
    await writeExport([stored('ep-1'), stored('ep-2')], 'ipynb', out, {}, redactor);
    writeFileSync(path.join(out, 'mine.txt'), 'notes');
    const before = snapshot(out);
    expect(Object.keys(before).sort()).toEqual(['ep-1.ipynb', 'ep-2.ipynb', 'mine.txt']);

    // ep-0 would be new, ep-1 is there: nothing is written, nothing removed.
    expect(await refusal(writeExport([stored('ep-0'), stored('ep-1'), stored('ep-3')], 'ipynb', out, {}, redactor))).toBe('exists');
    expect(snapshot(out)).toEqual(before);
    expect(await refusal(writeExport([stored('ep-1'), stored('ep-2')], 'ipynb', out, {}, redactor))).toBe('exists');
    expect(snapshot(out)).toEqual(before);
  });

  it('ipynb adds new notebooks to a folder without touching what is there', async () => {
    const out = path.join(tmp(), 'notebooks');
    mkdirSync(out);
    writeFileSync(path.join(out, 'mine.txt'), 'notes');
    await writeExport([stored('ep-1')], 'ipynb', out, {}, redactor);
    expect(snapshot(out)['mine.txt']).toBe('notes');
    expect(Object.keys(snapshot(out)).sort()).toEqual(['ep-1.ipynb', 'mine.txt']);
  });

  it('ipynb onto a file is refused and leaves the file', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'notebooks'), 'a file');
    expect(await refusal(writeExport([stored('ep-1')], 'ipynb', path.join(dir, 'notebooks'), {}, redactor))).toBe('exists');
    expect(snapshot(dir)).toEqual({ notebooks: 'a file' });
  });

  it('JSONL onto an earlier export: refused, the file as it was, no temporary file left', async () => {
    const dir = tmp();
    const out = path.join(dir, 'sft.jsonl');
    await writeExport([stored('ep-1')], 'sft', out, {}, redactor);
    const before = snapshot(dir);
    expect(Object.keys(before)).toEqual(['sft.jsonl']);
    expect(await refusal(writeExport([stored('ep-2')], 'sft', out, {}, redactor))).toBe('exists');
    expect(snapshot(dir)).toEqual(before);
  });

  it('JSONL onto a dangling link is refused and writes nothing where it points', async () => {
    const dir = tmp();
    const elsewhere = path.join(tmp(), 'target.jsonl');
    symlinkSync(elsewhere, path.join(dir, 'sft.jsonl'));
    expect(await refusal(writeExport([stored('ep-1')], 'sft', path.join(dir, 'sft.jsonl'), {}, redactor))).toBe('exists');
    expect(snapshot(path.dirname(elsewhere))).toEqual({});
  });

  it('a NUL byte in the path is an invalid request (400), not a crash', async () => {
    const dir = tmp();
    expect(await refusal(writeExport([stored('ep-1')], 'sft', path.join(dir, 'a\0.jsonl'), {}, redactor))).toBe('invalid_request');
    expect(await refusal(writeExport([stored('ep-1')], 'ipynb', path.join(dir, 'a\0'), {}, redactor))).toBe('invalid_request');
    expect(await refusal(exportTarget(dir, 'a\0b.jsonl'))).toBe('invalid_request');
  });
});

describe('exportTarget: paths are checked after links are followed', () => {
  it('keeps a new file or folder inside the exports folder', async () => {
    const root = path.join(tmp(), 'exports');
    mkdirSync(root);
    const real = await exportTarget(root, 'runs/a.jsonl');
    expect(real.endsWith(path.join('exports', 'runs', 'a.jsonl'))).toBe(true);
  });

  it('refuses .. and the folder itself', async () => {
    const root = path.join(tmp(), 'exports');
    expect(await refusal(exportTarget(root, '../a.jsonl'))).toBe('path_outside');
    expect(await refusal(exportTarget(root, '.'))).toBe('path_outside');
  });

  it('refuses a symlinked folder inside the exports folder that points outside', async () => {
    const root = path.join(tmp(), 'exports');
    mkdirSync(root);
    const outside = tmp();
    symlinkSync(outside, path.join(root, 'linked'));
    expect(await refusal(exportTarget(root, 'linked/a.jsonl'))).toBe('path_outside');
    expect(await refusal(exportTarget(root, 'linked/new/deeper/a.jsonl'))).toBe('path_outside');
    expect(await refusal(exportTarget(root, 'linked'))).toBe('path_outside');
    expect(snapshot(outside)).toEqual({});
  });

  it('follows a link that stays inside', async () => {
    const root = path.join(tmp(), 'exports');
    mkdirSync(path.join(root, 'real'), { recursive: true });
    symlinkSync(path.join(root, 'real'), path.join(root, 'alias'));
    const real = await exportTarget(root, 'alias/a.jsonl');
    expect(real).toBe(path.join(realpathSync(root), 'real', 'a.jsonl'));
  });
});
