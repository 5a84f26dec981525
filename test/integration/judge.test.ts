/**
 * The judge as a user runs it: `datarus score --judge`, `export --judge` and
 * `rollouts --judge` in child processes, the fixture GGUF as the judge on the
 * embedded host or behind `datarus serve`'s OpenAI-compatible endpoint, with a
 * grammar forcing known scores. A judge that answers nonsense or never answers
 * leaves the score out with the reason, and the row is kept.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { formatAnswer, formatStep } from '../../src/protocol';
import type { Episode } from '../../src/episode/types';
import { CLI, MODELS_DIR, ROOT } from './paths';
import { getJson, Running, startHost, waitForStatus } from './processes';

jest.setTimeout(600000);

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'dabench');
const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;
const HOST = ['--threads', '1'];

function episode(id: string, steps: number, answered: boolean): Episode {
  const now = new Date().toISOString();
  return {
    schemaVersion: 1,
    id,
    question: `What is the sum? (${id})`,
    model: 'datarus-test-tiny',
    startedAt: now,
    endedAt: now,
    status: answered ? 'answered' : 'step_limit',
    steps: Array.from({ length: steps }, (_, index) => ({
      index,
      thought: `Step ${index + 1}.`,
      code: `print(${index} + 6)`,
      status: 'ok' as const,
      observation: String(index + 6),
      violations: [],
      raw: '',
      startedAt: now,
      endedAt: now,
      modelMs: 1,
      kernelMs: 1
    })),
    answer: answered ? { thought: 'It printed 6.', text: 'The sum is 6.' } : null
  };
}

function writeLog(dir: string, episodes: Episode[]): string {
  const file = path.join(dir, 'episodes.jsonl');
  writeFileSync(file, episodes.map(e => JSON.stringify({ v: 1, type: 'episode', at: e.startedAt, episode: e })).join('\n') + '\n');
  return file;
}

/** A grammar forcing the judge's answer for two steps: step scores (2, 4) and (5, 5), episode scores 4 and 3. */
const TWO_STEPS = '{"steps":[{"step":1,"sound":2,"uses_observation":4},{"step":2,"sound":5,"uses_observation":5}],"answer_follows":4,"complete":3}';

function datarus(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, DATARUS_MODELS_DIR: MODELS_DIR, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', d => (stdout += d));
  proc.stderr!.on('data', d => (stderr += d));
  return new Promise(resolve => proc.on('close', code => resolve({ code, stdout, stderr })));
}

const lines = (text: string) => text.trim().split('\n').map(line => JSON.parse(line));

describe('datarus score --judge', () => {
  let dir: string;
  let log: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-judge-'));
    log = writeLog(dir, [episode('ep-two', 2, true)]);
  });

  it('scores a logged episode with the forced judge, and reads the cache the second time', async () => {
    const grammar = path.join(dir, 'scores.gbnf');
    writeFileSync(grammar, exactly(TWO_STEPS));
    const cache = path.join(dir, 'cache.jsonl');
    const args = ['score', '--judge', '--log', log, '--judge-model', 'datarus-test-tiny', '--judge-grammar', grammar, '--judge-cache', cache, ...HOST];
    const first = await datarus(args);
    expect(first.code).toBe(0);
    const [row] = lines(first.stdout);
    // Steps: (0.25 + 0.75) / 2 = 0.5 and 1; hrm_step 0.75. Episode: (0.75 + 0.5) / 2.
    expect(row).toMatchObject({
      episode_id: 'ep-two',
      reward_parts: { structural: 1, hrm_step: 0.75, hrm_episode: 0.625 },
      judge: { rubric: 'datarus-hrm-1', model: 'datarus-test-tiny', steps: [{ step: 0, sound: 0.25, uses_observation: 0.75 }, { step: 1, sound: 1, uses_observation: 1 }] }
    });
    expect(first.stderr).toContain('episode ep-two: hrm_step 0.75 · hrm_episode 0.625\n');
    expect(lines(readFileSync(cache, 'utf8'))).toHaveLength(1);

    const second = await datarus(args);
    expect(second.stderr).toContain('(1 verdict(s))');
    expect(second.stderr).toContain('hrm_episode 0.625 (cached)');
    expect(lines(second.stdout)).toEqual([row]);
    expect(lines(readFileSync(cache, 'utf8'))).toHaveLength(1);
  });

  it("under the rubric's own grammar, the fixture's answer always parses", async () => {
    const result = await datarus(['score', '--judge', '--log', log, '--judge-model', 'datarus-test-tiny', '--no-judge-cache', ...HOST]);
    expect(result.code).toBe(0);
    const [row] = lines(result.stdout);
    expect(row.judge.reason).toBeUndefined();
    for (const value of [row.reward_parts.hrm_step, row.reward_parts.hrm_episode]) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(1);
    }
    expect(row.judge.steps).toHaveLength(2);
  });

  it('leaves the score out, with the reason, when the judge answers nonsense', async () => {
    const grammar = path.join(dir, 'nonsense.gbnf');
    writeFileSync(grammar, exactly('All good, 10/10!'));
    const result = await datarus(['score', '--judge', '--log', log, '--judge-model', 'datarus-test-tiny', '--judge-grammar', grammar, '--no-judge-cache', ...HOST]);
    expect(result.code).toBe(0);
    const [row] = lines(result.stdout);
    expect(row.reward_parts).toEqual({ structural: 1, hrm_step: null, hrm_episode: null });
    expect(row.judge.reason).toBe('the judge\'s answer holds no JSON object: "All good, 10/10!"');
    expect(result.stderr).toContain('0 episode(s) judged, 1 without a score');
  });

  it('leaves the score out when an OpenAI-compatible judge never answers', async () => {
    const requests: string[] = [];
    const silent = http.createServer(req => requests.push(req.url ?? ''));
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/v1`;
      const result = await datarus(['score', '--judge-url', url, '--judge-model', 'any', '--judge-timeout', '1', '--log', log, '--no-judge-cache']);
      expect(result.code).toBe(0);
      expect(requests).toEqual(['/v1/chat/completions']);
      const [row] = lines(result.stdout);
      expect(row.reward_parts).toMatchObject({ hrm_step: null, hrm_episode: null });
      expect(row.judge.reason).toBe('the judge did not answer within 1 s');
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('names an episode the log does not hold', async () => {
    const result = await datarus(['score', '--judge', '--log', log, '--episode', 'nope', '--judge-model', 'datarus-test-tiny']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no episode nope in ${log}`);
  });
});

describe('the judge behind an OpenAI-compatible endpoint', () => {
  const TOKEN = 'judge-remote-token';
  let host: Running;
  beforeAll(async () => {
    host = await startHost(['--model', 'datarus-test-tiny', '--token', TOKEN, '--threads', '1'], { DATARUS_MODELS_DIR: MODELS_DIR });
    await waitForStatus(() => getJson(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } }), s => s.state === 'ready');
  });
  afterAll(async () => {
    await host?.stop();
  });

  it('datarus export --judge --judge-url: every row carries the forced scores beside the structural reward', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-judge-export-'));
    const log = writeLog(dir, [episode('ep-two', 2, true), episode('ep-unanswered', 2, false)]);
    const grammar = path.join(dir, 'scores.gbnf');
    writeFileSync(grammar, exactly(TWO_STEPS));
    const out = path.join(dir, 'grpo.jsonl');
    const result = await datarus(['export', '--format', 'grpo', '--out', out, '--log', log, '--judge-url', `${host.url}/v1`, '--judge-grammar', grammar, '--no-judge-cache'], {
      DATARUS_JUDGE_API_KEY: TOKEN
    });
    expect(result.stderr).toContain('judged 2 of 2 episode(s)');
    expect(result.code).toBe(0);
    const rows = lines(readFileSync(out, 'utf8'));
    expect(rows.map(r => r.episode_id)).toEqual(['ep-two', 'ep-unanswered']);
    expect(rows[0].reward_parts).toEqual({ structural: 1, hrm_step: 0.75, hrm_episode: 0.625 });
    expect(rows[1].reward_parts).toEqual({ structural: rows[1].structural_reward, hrm_step: 0.75, hrm_episode: 0.625 });
    expect(rows[0].judge).toMatchObject({ rubric: 'datarus-hrm-1', model: 'datarus-test-tiny' });
  });
});

describe('datarus rollouts --judge', () => {
  it('adds hrm_step and hrm_episode to each rollout, judged by the model that ran them', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-judge-rollouts-'));
    const tasks = path.join(dir, 'tasks.jsonl');
    writeFileSync(tasks, readFileSync(path.join(FIXTURES, 'tasks.jsonl'), 'utf8').split('\n')[0] + '\n');
    copyFileSync(path.join(FIXTURES, 'sales.csv'), path.join(dir, 'sales.csv'));
    const turns = path.join(dir, 'turns.json');
    writeFileSync(
      turns,
      JSON.stringify([
        exactly(formatStep({ thought: 'Mean of the price column.', code: 'import pandas as pd\ndf = pd.read_csv("sales.csv")\nprint(round(df.price.mean(), 2))' })),
        exactly(formatAnswer({ thought: 'It printed 11.71.', text: 'The mean price is @mean_price[11.71].' }))
      ])
    );
    const scores = path.join(dir, 'scores.gbnf');
    writeFileSync(scores, exactly('{"steps":[{"step":1,"sound":5,"uses_observation":3}],"answer_follows":5,"complete":5}'));
    const out = path.join(dir, 'rollouts.jsonl');
    const result = await datarus([
      'rollouts', tasks, '--group-size', '2', '--labels', path.join(FIXTURES, 'labels.jsonl'), '--out', out, '--grammar', turns,
      '--judge', '--judge-grammar', scores, '--judge-cache', path.join(dir, 'cache.jsonl'), '--quiet', '--no-log', '--model', 'datarus-test-tiny', ...HOST
    ]);
    expect(result.stderr).toContain('2 row(s) written');
    expect(result.stderr).toMatch(/task 1 #1: answered · reward [\d.]+ · hrm_step 0\.750 · hrm_episode 1\.000/);
    expect(result.code).toBe(0);
    const rows = lines(readFileSync(out, 'utf8'));
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.reward_parts).toMatchObject({ answer: 1, hrm_step: 0.75, hrm_episode: 1 });
      // The reward is the one without the judge: the curriculum mixes it in when training.
      expect(row.reward).toBeCloseTo(0.5 * row.structural_reward + 0.5, 6);
      expect(row.judge).toMatchObject({ rubric: 'datarus-hrm-1', model: 'datarus-test-tiny' });
    }
  });
});
