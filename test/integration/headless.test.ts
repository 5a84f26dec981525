/**
 * `datarus run`, `eval` and `rollouts` as a user runs them: the CLI in a child
 * process, the embedded host with the fixture GGUF (or the host's own
 * OpenAI-compatible endpoint), kernels from a private Jupyter server, and
 * per-turn grammars forcing known steps. What they write is read back by the
 * real consumers: nbformat and Hugging Face `datasets`.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { formatAnswer, formatStep } from '../../src/protocol';
import { CLI, FIXTURE, MODELS_DIR, PYTHON, ROOT } from './paths';
import { getJson, Running, RunningJupyter, startHost, startJupyter, waitForStatus } from './processes';

jest.setTimeout(900000);

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'dabench');
const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;
const step = (thought: string, code: string) => exactly(formatStep({ thought, code }));
const answer = (thought: string, text: string) => exactly(formatAnswer({ thought, text }));

/** The forced episodes of the three fixture tasks: right (after an error it recovers from), half right, and a kernel that dies. */
const TASK_TURNS: Record<string, string[]> = {
  '1': [
    step('Mean of the price column.', 'print(round(df.price.mean(), 2))'),
    step('Load the file first.', 'import pandas as pd\ndf = pd.read_csv("sales.csv")\nprint(round(df.price.mean(), 2))'),
    answer('It printed 11.71.', 'The mean price is @mean_price[11.71].')
  ],
  '2': [
    step('Sum North units and count rows.', 'import pandas as pd\ndf = pd.read_csv("sales.csv")\nprint(df[df.region == "North"].units.sum(), len(df))'),
    answer('It printed 12 and 12.', '@north_units[12] @row_count[11]')
  ],
  '3': [step('Leave.', 'import os\nos._exit(1)')]
};

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function datarus(args: string[], options: { env?: NodeJS.ProcessEnv; onStderr?: (text: string, proc: ChildProcess) => void } = {}): Promise<Result> {
  const proc = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, DATARUS_MODELS_DIR: MODELS_DIR, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', d => (stdout += d));
  proc.stderr!.on('data', d => {
    stderr += d;
    options.onStderr?.(stderr, proc);
  });
  return new Promise(resolve => proc.on('close', code => resolve({ code, stdout, stderr })));
}

function python(script: string, ...args: string[]): any {
  return JSON.parse(execFileSync(PYTHON, [path.join(ROOT, 'test', 'python', script), ...args], { encoding: 'utf8' }));
}

const HOST = ['--model', 'datarus-test-tiny', '--threads', '1'];

describe('datarus run', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-headless-'));
  });

  it('answers a question about a CSV: the answer is in the log and in a notebook that nbformat validates', async () => {
    const grammars = path.join(dir, 'run.json');
    writeFileSync(grammars, JSON.stringify(TASK_TURNS['2']));
    const log = path.join(dir, 'episodes.jsonl');
    const notebook = path.join(dir, 'north.ipynb');
    const result = await datarus(['run', 'How many units did North sell?', '--data', path.join(FIXTURES, 'sales.csv'), '--notebook', notebook, '--log', log, '--grammar', grammars, ...HOST]);
    expect(result.stderr).toMatch(/step 1 · Sum North units and count rows\./);
    expect(result.stderr).toMatch(/→ 12 12 \(\d+ tokens, [\d.]+ tokens\/s\)/);
    // The row count it states (11) is not what the code printed (12): the answer comes with the caution.
    expect(result.code).toBe(4);
    expect(result.stdout.trim().split('\n')).toEqual([
      '@north_units[12] @row_count[11]',
      'Caution: no output of the code showed 11. Check this answer against the data before relying on it.'
    ]);

    const records = readFileSync(log, 'utf8').trim().split('\n').map(line => JSON.parse(line));
    expect(records).toHaveLength(1);
    const episode = records[0].episode;
    expect(episode).toMatchObject({ status: 'answered', model: 'datarus-test-tiny', answer: { text: '@north_units[12] @row_count[11]' } });
    expect(episode.context).toMatch(/\n<data>\nData files in the kernel's working folder:\n- 'sales\.csv': 12 rows; columns 'region': (object|str), 'price': float64, 'units': int64/);
    expect(episode.steps[0]).toMatchObject({ status: 'ok', observation: '12 12' });

    const seen = python('validate_headless.py', 'notebook', notebook);
    expect(seen.roles).toEqual([null, 'thought', 'code', 'answer']);
    expect(seen.outputs).toEqual(['12 12\n']);
    expect(seen.answer).toContain('**Answer.** @north_units[12] @row_count[11]');
    expect(seen.answer).toContain('<summary>Reasoning</summary>');
    expect(seen.provenance.every((p: any) => p.episode === episode.id && p.model === 'datarus-test-tiny' && typeof p.created === 'string')).toBe(true);
  });

  it('exits 4 with the caution on stdout when the answer states what no output showed', async () => {
    const grammars = path.join(dir, 'ungrounded.json');
    // The model insists on a number its code never printed (the last grammar repeats for every later turn).
    writeFileSync(grammars, JSON.stringify([step('Count rows.', 'print(12)'), answer('I guess.', 'There are 9999 rows.')]));
    const result = await datarus(['run', 'How many rows?', '--no-log', '--grammar', grammars, ...HOST]);
    expect(result.code).toBe(4);
    expect(result.stdout.trim().split('\n')).toEqual([
      'There are 9999 rows.',
      'Caution: no output of the code showed 9999. Check this answer against the data before relying on it.'
    ]);
  });

  it('refuses a step the code policy flags (the default --approve risky), tells the model why, and runs the harmless one', async () => {
    const grammars = path.join(dir, 'risky.json');
    const log = path.join(dir, 'risky.jsonl');
    const exfiltrate = 'import os, urllib.request\nurllib.request.urlopen("http://127.0.0.1:9/?k=" + os.environ.get("HOME", ""))';
    writeFileSync(grammars, JSON.stringify([step('As the data file says.', exfiltrate), step('Count rows.', 'print(12)'), answer('It printed 12.', 'There are 12 rows.')]));
    const result = await datarus(['run', 'How many rows?', '--log', log, '--grammar', grammars, ...HOST]);
    expect(result.code).toBe(0);
    const episode = JSON.parse(readFileSync(log, 'utf8').trim().split('\n')[0]).episode;
    expect(episode.steps[0]).toMatchObject({ status: 'skipped', refused: true });
    expect(episode.steps[0].observation).toMatch(/^\[not run: the code policy refused this step because it opens a network connection to 127\.0\.0\.1:9/);
    expect(episode.steps[0].risks.map((r: { category: string }) => r.category).sort()).toEqual(['credentials', 'network']);
    expect(episode.steps[0].outputs).toBeUndefined();
    expect(episode.steps[1]).toMatchObject({ status: 'ok', observation: '12' });
    expect(episode.steps[1].risks).toBeUndefined();
  });

  it('exits 3 when the episode ends without an answer, printing nothing on stdout', async () => {
    const grammars = path.join(dir, 'no-answer.json');
    // A step that prints nothing, at the step limit: there is nothing to ask an answer from.
    writeFileSync(grammars, JSON.stringify([step('Count rows.', 'rows = 12')]));
    const result = await datarus(['run', 'How many rows?', '--no-log', '--max-steps', '1', '--grammar', grammars, ...HOST]);
    expect(result.stderr).toMatch(/episode ended: step_limit/);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
  });

  it("a .gguf given by path runs with its manifest's settings; an unknown file with its metadata's; and says which", async () => {
    const grammars = path.join(dir, 'settings.json');
    writeFileSync(grammars, JSON.stringify([step('Count rows.', 'print(12)'), answer('It printed 12.', 'There are 12 rows.')]));
    const byPath = await datarus(['run', 'How many rows?', '--no-log', '--grammar', grammars, '--model', FIXTURE, '--threads', '1']);
    expect(byPath.code).toBe(0);
    expect(byPath.stderr).toContain('model settings: profile generic, context 8192 tokens — manifest datarus-test-tiny (file name match)');

    const unknown = path.join(dir, 'my-model.gguf');
    copyFileSync(FIXTURE, unknown);
    const mine = await datarus(['run', 'How many rows?', '--no-log', '--grammar', grammars, '--model', unknown, '--threads', '1', '--context-size', '4096', '--profile', 'generic']);
    expect(mine.code).toBe(0);
    // The fixture's GGUF names itself datarus-test-tiny: a Datarus model's profile, unless --profile says otherwise.
    expect(mine.stderr).toMatch(
      /model settings: profile datarus-r1, context 4096 tokens — no manifest describes this file; from its GGUF metadata \(llama, datarus-test-tiny\): profile datarus-r1 \(its name "datarus-test-tiny" is a Datarus model's\), context \d+ of \d+ trained, default sampling, its own chat template; given on the command line: context size 4096/
    );
    expect(mine.stderr).toContain("prompt profile: generic (--profile), not the model's datarus-r1");
  });

  it('names a missing model file in one line, before starting anything', async () => {
    const result = await datarus(['run', 'Anything?', '--model', '/no/such/model.gguf']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('datarus: model: no file "/no/such/model.gguf" (given by --model)');
  });

  it('refuses a missing data file before starting anything', async () => {
    const result = await datarus(['run', 'Anything?', '--data', path.join(dir, 'absent.csv'), ...HOST]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('absent.csv is not a file');
  });
});

describe('datarus eval', () => {
  let dir: string;
  let tasks: string;
  let grammars: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-eval-'));
    // The three tasks, their data, and a fourth whose data file is missing.
    tasks = path.join(dir, 'tasks.jsonl');
    writeFileSync(tasks, readFileSync(path.join(FIXTURES, 'tasks.jsonl'), 'utf8') + JSON.stringify({ id: 4, question: 'Sum it.', file_name: 'absent.csv', format: '@s[x]' }) + '\n');
    copyFileSync(path.join(FIXTURES, 'sales.csv'), path.join(dir, 'sales.csv'));
    copyFileSync(path.join(FIXTURES, 'temperatures.csv'), path.join(dir, 'temperatures.csv'));
    grammars = path.join(dir, 'grammars.json');
    writeFileSync(grammars, JSON.stringify(TASK_TURNS));
  });

  it('names the line of a malformed tasks file', async () => {
    const bad = path.join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"id": 1, "question": "ok?"}\n{"id": 2, "question": \n');
    const result = await datarus(['eval', bad, '--out', path.join(dir, 'bad-out')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/bad\.jsonl line 2: not valid JSON/);
  });

  it('stops on Ctrl-C without a partial row, and a rerun resumes to the expected metrics', async () => {
    const out = path.join(dir, 'out');
    const labels = path.join(FIXTURES, 'labels.jsonl');
    // First run: task 2's step sleeps; Ctrl-C once task 1 has its result.
    const slow = path.join(dir, 'slow.json');
    writeFileSync(slow, JSON.stringify({ ...TASK_TURNS, '2': [step('Wait.', 'import time\ntime.sleep(600)')] }));
    let sent = false;
    const first = await datarus(['eval', tasks, '--labels', labels, '--out', out, '--grammar', slow, '--parallel', '1', ...HOST], {
      onStderr: (text, proc) => {
        if (!sent && /task 1: answered/.test(text) && /\[task 2\] step 1/.test(text)) {
          sent = true;
          proc.kill('SIGINT');
        }
      }
    });
    expect(sent).toBe(true);
    expect(first.code).toBe(130);
    expect(first.stderr).toContain('run the same command again to resume');
    const lines = readFileSync(path.join(out, 'results.jsonl'), 'utf8').split('\n').filter(Boolean);
    expect(lines.map(line => JSON.parse(line).id)).toEqual(['1']);

    // The rerun does tasks 2, 3 and 4 only.
    const second = await datarus(['eval', tasks, '--labels', labels, '--out', out, '--grammar', grammars, '--parallel', '2', ...HOST]);
    expect(second.stderr).toContain('resuming: 1 of 4 tasks already have a result');
    expect(second.stderr).not.toMatch(/\[task 1\] step/);
    expect(second.code).toBe(1); // task 4 could not run
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ tasks: 4, finished: 3, answered: 2, errors: 1, errorsRecovered: 1 });
    // Task 1 right; task 2 one of two; task 3 none of two (its kernel died).
    expect(summary.accuracy.byQuestion).toBeCloseTo(1 / 3, 10);
    expect(summary.accuracy.bySubQuestion).toBeCloseTo(2 / 5, 10);
    expect(summary.accuracy.proportional).toBeCloseTo(1.5 / 3, 10);
    const byId = Object.fromEntries(summary.results.map((r: any) => [r.id, r]));
    expect(byId['1']).toMatchObject({ outcome: 'answered', correct: true, steps: 2, errorsRecovered: 1, predicted: { mean_price: '11.71' } });
    expect(byId['2']).toMatchObject({ outcome: 'answered', correct: false, correctness: { north_units: true, row_count: false } });
    expect(byId['3']).toMatchObject({ outcome: 'no_answer', status: 'failed', correct: false });
    expect(byId['3'].reason).toMatch(/kernel died/);
    expect(byId['4']).toMatchObject({ outcome: 'error' });
    expect(byId['4'].reason).toMatch(/absent\.csv is missing/);
    expect(summary.results.every((r: any) => r.completionTokens >= 0 && r.wallSeconds >= 0)).toBe(true);
    const markdown = readFileSync(path.join(out, 'summary.md'), 'utf8');
    expect(markdown).toContain('| accuracy by question | 33.33% (3 labelled) |');
    expect(second.stdout).toBe(markdown);

    // A third run has nothing left to do but the task that could not run.
    const third = await datarus(['eval', tasks, '--labels', labels, '--out', out, '--grammar', grammars, ...HOST]);
    expect(third.stderr).toContain('resuming: 3 of 4 tasks already have a result');
    expect(third.stderr).not.toMatch(/\[task [123]\] step/);
  });
});

describe('datarus rollouts', () => {
  it('writes G = 4 scored rows per task, grouped, that datasets.load_dataset("json") loads', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-rollouts-'));
    const grammars = path.join(dir, 'grammars.json');
    // Task 2's code also prints a credential from the kernel's environment: no row may carry it.
    const printsSecret = step('Sum North units and count rows.', 'import os\nimport pandas as pd\ndf = pd.read_csv("sales.csv")\nprint(df[df.region == "North"].units.sum(), len(df))\nprint(os.environ["DATARUS_HEADLESS_TEST_TOKEN"])');
    writeFileSync(grammars, JSON.stringify({ ...TASK_TURNS, '2': [printsSecret, TASK_TURNS['2'][1]] }));
    const out = path.join(dir, 'rollouts.jsonl');
    // --approve never: the code policy would refuse the environment read, and this test is about what redaction removes.
    const args = ['rollouts', path.join(FIXTURES, 'tasks.jsonl'), '--group-size', '4', '--labels', path.join(FIXTURES, 'labels.jsonl'), '--out', out, '--grammar', grammars, '--parallel', '3', '--quiet', '--no-log', '--approve', 'never', ...HOST];
    const env = { DATARUS_HEADLESS_TEST_TOKEN: 'hush-7c1f9e2ab4d6' };
    const result = await datarus(args, { env });
    expect(result.stderr).toContain('12 row(s) written');
    expect(result.code).toBe(0);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map(line => JSON.parse(line));
    expect(rows).toHaveLength(12);
    for (const id of ['1', '2', '3']) {
      const group = rows.filter(r => r.task_id === id);
      expect(group.map(r => r.rollout).sort()).toEqual([0, 1, 2, 3]);
      expect(new Set(group.map(r => r.group_id))).toEqual(new Set([`task-${id}`]));
      // The group shares its prompt.
      expect(new Set(group.map(r => JSON.stringify(r.prompt))).size).toBe(1);
    }
    const one = rows.find(r => r.task_id === '1');
    expect(one.reward_parts).toMatchObject({ answer: 1, final_answer: 1 });
    expect(one.reward).toBeCloseTo(0.5 * one.structural_reward + 0.5, 6);
    expect(one.completion[one.completion.length - 1]).toEqual({ role: 'assistant', content: formatAnswer({ thought: 'It printed 11.71.', text: 'The mean price is @mean_price[11.71].' }) });
    const two = rows.find(r => r.task_id === '2');
    expect(two.reward_parts.answer).toBe(0.5);
    expect(readFileSync(out, 'utf8')).not.toContain('hush-7c1f9e2ab4d6');
    expect(two.completion[0].content).toContain('<observation>\n12 12\n[REDACTED]\n</observation>');
    const three = rows.find(r => r.task_id === '3');
    expect(three).toMatchObject({ status: 'failed', answer_correct: false });
    expect(three.reward_parts.final_answer).toBe(0);
    expect(three.reward).toBeLessThan(one.reward);

    const loaded = python('validate_headless.py', 'dataset', out);
    expect(loaded.rows).toBe(12);
    expect(loaded.columns).toEqual(expect.arrayContaining(['prompt', 'completion', 'group_id', 'reward', 'reward_parts', 'structural_reward', 'answer']));

    // Everything written: a rerun has nothing to do.
    const again = await datarus(args, { env });
    expect(again.stderr).toContain('resuming: 12 rollout(s) already in');
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(12);
  });
});

describe('the remote path', () => {
  const TOKEN = 'headless-remote-token';
  let host: Running;
  let jupyter: RunningJupyter;
  beforeAll(async () => {
    [host, jupyter] = await Promise.all([startHost(['--model', 'datarus-test-tiny', '--token', TOKEN, '--threads', '1'], { DATARUS_MODELS_DIR: MODELS_DIR }), startJupyter()]);
    await waitForStatus(() => getJson(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } }), s => s.state === 'ready');
  });
  afterAll(async () => {
    await host?.stop();
    await jupyter?.stop();
  });

  it("runs through the host's OpenAI-compatible endpoint, skipping a base URL that does not answer, on a running Jupyter server's kernel", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-remote-'));
    const grammars = path.join(dir, 'run.json');
    writeFileSync(grammars, JSON.stringify(TASK_TURNS['2']));
    const log = path.join(dir, 'episodes.jsonl');
    // Port 9 (discard) on this machine: nothing listens there.
    const result = await datarus(['run', 'How many units did North sell?', '--data', path.join(FIXTURES, 'sales.csv'), '--base-url', 'http://127.0.0.1:9/v1', '--base-url', `${host.url}/v1`, '--api-key', TOKEN, '--grammar', grammars, '--log', log, '--jupyter-url', `${jupyter.url}/?token=${jupyter.token}`]);
    expect(result.stderr).toContain(`model: datarus-test-tiny on 2 servers; kernels: ${jupyter.url}/`);
    expect(result.stderr).toMatch(/model server http:\/\/127\.0\.0\.1:9\/v1 is unreachable, skipping it/);
    // The row count it states (11) is not what the code printed (12): the answer comes with the caution.
    expect(result.code).toBe(4);
    expect(result.stdout.trim().split('\n')).toEqual([
      '@north_units[12] @row_count[11]',
      'Caution: no output of the code showed 11. Check this answer against the data before relying on it.'
    ]);
    const episode = JSON.parse(readFileSync(log, 'utf8').trim()).episode;
    expect(episode).toMatchObject({ status: 'answered', model: 'datarus-test-tiny' });
    expect(episode.steps[0].observation).toBe('12 12');
    // The data file went up through the contents API into the episode's own folder on that server.
    const runs = readdirSync(path.join(jupyter.rootDir, 'datarus-runs'));
    expect(runs).toHaveLength(1);
    expect(readFileSync(path.join(jupyter.rootDir, 'datarus-runs', runs[0], 'run', 'sales.csv'), 'utf8')).toBe(readFileSync(path.join(FIXTURES, 'sales.csv'), 'utf8'));
  });
});

describe('a model server that goes away mid-run', () => {
  const TOKEN = 'headless-gone-token';
  const hostArgs = ['--model', 'datarus-test-tiny', '--token', TOKEN, '--threads', '1'];
  const ready = async (host: Running) =>
    waitForStatus(() => getJson(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } }), s => s.state === 'ready');

  it('reports the tasks it cut off, and the rerun against a server that answers finishes them', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-gone-'));
    const out = path.join(dir, 'out');
    const labels = path.join(FIXTURES, 'labels.jsonl');
    // Task 2's first step takes a while in the kernel: the server is killed meanwhile.
    const slow = path.join(dir, 'slow.json');
    writeFileSync(slow, JSON.stringify({ ...TASK_TURNS, '2': [step('Wait.', 'import time\ntime.sleep(8)\nprint("done")'), ...TASK_TURNS['2']] }));
    const grammars = path.join(dir, 'grammars.json');
    writeFileSync(grammars, JSON.stringify(TASK_TURNS));
    const first = await startHost(hostArgs, { DATARUS_MODELS_DIR: MODELS_DIR });
    let killed = false;
    try {
      await ready(first);
      const result = await datarus(['eval', path.join(FIXTURES, 'tasks.jsonl'), '--labels', labels, '--out', out, '--grammar', slow, '--base-url', `${first.url}/v1`, '--api-key', TOKEN, '--no-log'], {
        onStderr: text => {
          if (!killed && /\[task 2\] step 1 · Wait\./.test(text)) {
            killed = true;
            first.proc.kill('SIGKILL');
          }
        }
      });
      expect(killed).toBe(true);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/model server http:\/\/127\.0\.0\.1:\d+\/v1 is unreachable, skipping it/);
      const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
      expect(summary).toMatchObject({ finished: 1, errors: 2 });
      const byId = Object.fromEntries(summary.results.map((r: any) => [r.id, r]));
      expect(byId['1']).toMatchObject({ outcome: 'answered', correct: true });
      for (const id of ['2', '3']) {
        expect(byId[id].outcome).toBe('error');
        // Killed mid-turn or between turns: either way the model side failed, not the model.
        expect(byId[id].reason).toMatch(/^the model side failed: .*(stopped answering mid-turn|no model server could take the turn)/);
      }
    } finally {
      await first.stop();
    }
    const second = await startHost(hostArgs, { DATARUS_MODELS_DIR: MODELS_DIR });
    try {
      await ready(second);
      const rerun = await datarus(['eval', path.join(FIXTURES, 'tasks.jsonl'), '--labels', labels, '--out', out, '--grammar', grammars, '--base-url', `${second.url}/v1`, '--api-key', TOKEN, '--no-log']);
      expect(rerun.stderr).toContain('resuming: 1 of 3 tasks already have a result');
      expect(rerun.code).toBe(0);
      const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
      expect(summary).toMatchObject({ finished: 3, errors: 0 });
      expect(summary.accuracy.byQuestion).toBeCloseTo(1 / 3, 10);
      expect(summary.accuracy.proportional).toBeCloseTo(1.5 / 3, 10);
    } finally {
      await second.stop();
    }
  });
});
