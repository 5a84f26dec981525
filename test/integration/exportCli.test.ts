/**
 * `datarus export` finds the log where Jupyter keeps its data, fails with the
 * path it looked at when there is none, and never leaves an empty file behind.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Episode } from '../../src/episode/types';
import { CLI, VENV_BIN } from './paths';

jest.setTimeout(120000);

function episode(id: string, status: Episode['status']): Episode {
  const now = new Date().toISOString();
  return {
    schemaVersion: 1,
    id,
    question: `What is the sum? (${id})`,
    model: 'datarus-test-tiny',
    startedAt: now,
    endedAt: now,
    status,
    steps: [
      {
        index: 0,
        thought: 'Sum it.',
        code: 'print(1 + 2 + 3)',
        status: status === 'answered' ? 'ok' : 'error',
        observation: status === 'answered' ? '6' : 'SyntaxError: invalid syntax',
        error: status === 'answered' ? undefined : { ename: 'SyntaxError', evalue: 'invalid syntax' },
        violations: [],
        raw: '',
        startedAt: now,
        endedAt: now,
        modelMs: 1,
        kernelMs: 1
      }
    ],
    answer: status === 'answered' ? { thought: 'It printed 6.', text: '6' } : null
  } as Episode;
}

function run(args: string[], env: Record<string, string>) {
  // A clean environment: only what the test sets, plus a PATH with (or without) Jupyter.
  const base = { HOME: mkdtempSync(path.join(os.tmpdir(), 'datarus-home-')), PATH: `${VENV_BIN}:/usr/bin:/bin` };
  return spawnSync(process.execPath, [CLI, 'export', ...args], { env: { ...base, ...env }, encoding: 'utf8' });
}

describe('datarus export', () => {
  it("reads the log under JUPYTER_DATA_DIR, as Jupyter's server extension writes it", () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'datarus-jdata-'));
    mkdirSync(path.join(data, 'datarus'));
    const lines = [episode('ep-ok', 'answered'), episode('ep-bad', 'error_limit')].map(e => JSON.stringify({ v: 1, type: 'episode', at: new Date().toISOString(), episode: e }));
    writeFileSync(path.join(data, 'datarus', 'episodes.jsonl'), lines.join('\n') + '\n');
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-out-')), 'sft.jsonl');
    const result = run(['--format', 'sft', '--out', out], { JUPYTER_DATA_DIR: data });
    expect(result.stderr).toContain('wrote 1 sft row(s) from 1 episode(s)');
    expect(result.status).toBe(0);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map(l => JSON.parse(l));
    // SFT takes the answered episode only; the row says how many steps failed.
    expect(rows.map(r => [r.episode_id, r.failed_steps])).toEqual([['ep-ok', 0]]);
    const all = path.join(path.dirname(out), 'sft-all.jsonl');
    expect(run(['--format', 'sft', '--include-unanswered', '--out', all], { JUPYTER_DATA_DIR: data }).status).toBe(0);
    expect(readFileSync(all, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('follows XDG_DATA_HOME when Jupyter is not on the PATH', () => {
    const xdg = mkdtempSync(path.join(os.tmpdir(), 'datarus-xdg-'));
    mkdirSync(path.join(xdg, 'jupyter', 'datarus'), { recursive: true });
    writeFileSync(path.join(xdg, 'jupyter', 'datarus', 'episodes.jsonl'), JSON.stringify({ v: 1, type: 'episode', at: new Date().toISOString(), episode: episode('ep-x', 'answered') }) + '\n');
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-out-')), 'tagged.jsonl');
    const result = spawnSync(process.execPath, [CLI, 'export', '--format', 'tagged', '--out', out], {
      env: { HOME: mkdtempSync(path.join(os.tmpdir(), 'datarus-home-')), PATH: '/nonexistent', XDG_DATA_HOME: xdg },
      encoding: 'utf8'
    });
    expect(result.stderr).toContain('wrote 1 tagged row(s)');
    expect(result.status).toBe(0);
  });

  it('with no log, fails naming the path it looked at and creates nothing; the retry then works', () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'datarus-jdata-'));
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-out-')), 'sft.jsonl');
    const missing = run(['--format', 'sft', '--out', out], { JUPYTER_DATA_DIR: data });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain(`no episode log at ${path.join(data, 'datarus', 'episodes.jsonl')}`);
    expect(missing.stderr).not.toMatch(/wrote 0/);
    expect(existsSync(out)).toBe(false);

    // An empty log: still nothing written.
    mkdirSync(path.join(data, 'datarus'));
    writeFileSync(path.join(data, 'datarus', 'episodes.jsonl'), '');
    const empty = run(['--format', 'sft', '--out', out], { JUPYTER_DATA_DIR: data });
    expect(empty.status).not.toBe(0);
    expect(empty.stderr).toContain('nothing to export: the episode log is empty');
    expect(existsSync(out)).toBe(false);

    writeFileSync(path.join(data, 'datarus', 'episodes.jsonl'), JSON.stringify({ v: 1, type: 'episode', at: new Date().toISOString(), episode: episode('ep-ok', 'answered') }) + '\n');
    const retry = run(['--format', 'sft', '--out', out], { JUPYTER_DATA_DIR: data });
    expect(retry.status).toBe(0);
    expect(existsSync(out)).toBe(true);
  });
});
