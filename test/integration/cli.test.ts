/**
 * The `datarus` command as a user runs it: `npx datarus …` from the repo root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { ROOT } from './paths';

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

  it('lists models with their state', () => {
    const out = execFileSync('npx', ['--no-install', 'datarus', 'models'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toMatch(/datarus-r1-14b\s+production\s+(present|missing)/);
    expect(out).toMatch(/datarus-test-tiny\s+test-fixture\s+present/);
  });
});
