/**
 * The `datarus` command as a user runs it: `npx datarus …` from the repo root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { MODELS_DIR, ROOT } from './paths';

jest.setTimeout(60000);

const npx = (args: string[], input?: string) =>
  spawnSync('npx', ['--no-install', 'datarus', ...args], { cwd: ROOT, input, encoding: 'utf8' });

describe('datarus CLI', () => {
  it('parse prints the steps, answer and violations of a file as JSON', () => {
    const out = npx(['parse', path.join('test', 'golden', 'fabricated-observation.txt')]);
    expect(out.status).toBe(0);
    const result = JSON.parse(out.stdout);
    expect(Object.keys(result)).toEqual(['steps', 'answer', 'violations']);
    expect(result.steps[0]).toEqual({
      thought: 'Compute the correlation between price and quantity.',
      action: 'python_executor',
      code: 'print(df["price"].corr(df["quantity"]))'
    });
    expect(result.violations.map((v: any) => v.kind)).toEqual(['fabricated_observation']);
  });

  it('parse reads stdin when no file is given', () => {
    const out = npx(['parse'], '<answer>42</answer>');
    expect(out.status).toBe(0);
    expect(JSON.parse(out.stdout).answer).toEqual({ thought: '', text: '42' });
  });

  it('score prints the structural reward and its parts', () => {
    const clean = JSON.parse(npx(['score', '--harness-observations', 'test/golden/full-transcript-harness.txt']).stdout);
    expect(clean.score).toBe(1);
    expect(Object.keys(clean.parts).sort()).toEqual([
      'code_present',
      'final_answer',
      'no_fabricated_observation',
      'no_text_outside_tags',
      'one_action_per_step',
      'well_formed'
    ]);
    const prose = JSON.parse(npx(['score', 'test/golden/prose-only.txt']).stdout);
    expect(prose.score).toBe(0);
  });

  it('says clearly when the file does not exist', () => {
    const out = npx(['parse', 'no/such/file.txt']);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/datarus: ENOENT.*no\/such\/file\.txt/);
  });

  it('lists models with their state, and says which folder it looked in', () => {
    const out = execFileSync('npx', ['--no-install', 'datarus', 'models'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toContain(`models folder: ${MODELS_DIR}\n`);
    expect(out).toMatch(/datarus-r1-14b\s+production\s+(present|missing)/);
    expect(out).toMatch(/datarus-test-tiny\s+test-fixture\s+present/);
  });
});

describe('set-up tool checks', () => {
  const { mkdtempSync, symlinkSync } = require('node:fs');
  const os = require('node:os');

  /** A PATH holding only the named tools, so the check sees the others missing. */
  function pathWith(tools: string[]): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-path-'));
    for (const tool of tools) {
      const found = execFileSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      symlinkSync(found, path.join(dir, tool));
    }
    return dir;
  }

  const check = (PATH: string) =>
    spawnSync('/bin/bash', [path.join(ROOT, 'scripts', 'check-tools.sh')], { env: { PATH }, encoding: 'utf8' });

  it('says Python is missing and how to get it', () => {
    const out = check(pathWith(['node', 'npm', 'id']));
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/Python 3.10 or newer is needed and python3 was not found on PATH/);
  });

  it('says Node.js is missing and how to get it', () => {
    const out = check(pathWith(['python3', 'id']));
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/Node.js 20 or newer is needed and node was not found on PATH/);
  });

  it('passes with the tools present', () => {
    const out = check(pathWith(['python3', 'node', 'npm', 'id']));
    expect(out.stdout).toMatch(/tools ok/);
    expect(out.status).toBe(0);
  });
});
