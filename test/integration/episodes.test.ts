/**
 * The episode log and the exports on the real host: redaction, crash safety
 * under SIGKILL, damaged and older logs, full disk, paths, and the exports
 * loaded by the real consumers (nbformat, Hugging Face datasets).
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Episode } from '../../src/episode/types';
import { Redactor } from '../../src/episode/redact';
import { EpisodeStore } from '../../src/host/episodes/episodeStore';
import { PYTHON, ROOT } from './paths';
import { getJson, Running, startHost } from './processes';

jest.setTimeout(300000);

const TOKEN = 'log-token';
const HEADERS = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
const SECRETS = ['sk-proj-SEEDEDsecretKEY1234567890abcd', 'hunter2-db-password', 'ghp_SEEDEDgithubTOKEN000000000000000000', 'env-secret-value-xyz'];

function episode(id: string, overrides: Partial<Episode> = {}): Episode {
  const now = new Date().toISOString();
  return {
    schemaVersion: 1,
    id,
    question: 'What is the mean price?',
    model: 'datarus-test-tiny',
    notebook: 'sales.ipynb',
    context: 'DataFrames in the kernel:\n- df: shape 3×1',
    startedAt: now,
    endedAt: now,
    status: 'answered',
    steps: [
      {
        index: 0,
        thought: 'Load the data.',
        code: `import pandas as pd\nOPENAI_API_KEY = "${SECRETS[0]}"\ndf = pd.read_csv("data/sales.csv")`,
        status: 'error',
        observation: `KeyError: 'price' (connecting with password=${SECRETS[1]})`,
        error: { ename: 'KeyError', evalue: `'price' token ${SECRETS[2]}` },
        outputs: [
          { output_type: 'stream', name: 'stdout', text: `using ${SECRETS[3]}\n` },
          { output_type: 'error', ename: 'KeyError', evalue: "'price'", traceback: [`KeyError: ghp token ${SECRETS[2]}`] },
          { output_type: 'display_data', data: { 'image/png': 'iVBORw0KGgo=', 'text/plain': '<Figure>' }, metadata: {} }
        ],
        violations: [],
        raw: '<step>…</step>',
        startedAt: now,
        endedAt: now,
        modelMs: 10,
        kernelMs: 5
      },
      {
        index: 1,
        thought: 'Use the right column.',
        code: 'print(df["Price"].mean())',
        status: 'ok',
        observation: '12.5',
        outputs: [{ output_type: 'stream', name: 'stdout', text: '12.5\n' }],
        violations: [],
        raw: '<step>…</step>',
        startedAt: now,
        endedAt: now,
        modelMs: 10,
        kernelMs: 5
      }
    ],
    answer: { thought: 'It printed 12.5.', text: 'The mean price is 12.5.' },
    ...overrides
  };
}

describe('episode log through the host', () => {
  let host: Running;
  let dir: string;
  let log: string;
  const post = (endpoint: string, body: unknown) => getJson(`${host.url}/api/log/${endpoint}`, { method: 'POST', headers: HEADERS, body: JSON.stringify(body) });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-log-'));
    log = path.join(dir, 'episodes.jsonl');
    host = await startHost(['--token', TOKEN, '--episodes-file', log], { DATARUS_TEST_SECRET_TOKEN: SECRETS[3] });
  });

  afterAll(async () => {
    const code = await host.stop();
    if (code !== 0) {
      console.log(host.output());
    }
  });

  it('logs episodes, feedback and edits with every secret redacted', async () => {
    expect((await post('episodes', { episode: episode('ep-a') })).status).toBe(201);
    // ep-b's second cell was edited at approval time: it ran as the user wrote it, the model's code kept beside it.
    const approvalEdited = episode('ep-b', { question: 'Another question?' });
    approvalEdited.steps[1] = { ...approvalEdited.steps[1], modelCode: 'print(df["price"].mean())', code: 'print(df["Price"].mean())' };
    expect((await post('episodes', { episode: approvalEdited })).status).toBe(201);
    expect((await post('feedback', { episodeId: 'ep-a', step: null, rating: 'up' })).status).toBe(201);
    expect((await post('feedback', { episodeId: 'ep-a', step: 1, rating: 'up' })).status).toBe(201);
    expect((await post('feedback', { episodeId: 'ep-b', step: 0, rating: 'down' })).status).toBe(201);
    expect((await post('edits', { episodeId: 'ep-a', step: 1, original: 'print(df["Price"].mean())', edited: 'print(round(df["Price"].mean(), 2))' })).status).toBe(201);
    const raw = readFileSync(log, 'utf8');
    for (const secret of SECRETS) {
      expect(raw).not.toContain(secret);
    }
    expect(raw).toContain('[REDACTED]');
    expect(raw).not.toContain('iVBORw0KGgo='); // images are kept as references, not data
    const summary = await getJson(`${host.url}/api/log`, { headers: HEADERS });
    expect(summary.body).toMatchObject({ episodes: 2, skipped: [] });
  });

  it('refuses an episode with no steps, bad feedback, and says why', async () => {
    const empty = await post('episodes', { episode: episode('ep-empty', { steps: [], answer: null }) });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/no steps/);
    expect((await post('feedback', { episodeId: 'ep-a', step: 0, rating: 'meh' })).status).toBe(400);
  });

  it('exports every format; the real consumers load them; no secret in any export', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'datarus-export-'));
    for (const format of ['tagged', 'sft', 'sft-split', 'grpo', 'dpo', 'kto']) {
      execFileSync(process.execPath, [path.join(ROOT, 'bin', 'datarus.js'), 'export', '--format', format, '--log', log, '--out', path.join(out, `${format}.jsonl`)]);
    }
    execFileSync(process.execPath, [path.join(ROOT, 'bin', 'datarus.js'), 'export', '--format', 'ipynb', '--log', log, '--out', path.join(out, 'ipynb')]);
    const report = JSON.parse(execFileSync(PYTHON, [path.join(ROOT, 'test', 'python', 'validate_exports.py'), out], { encoding: 'utf8', env: { ...process.env, HF_DATASETS_OFFLINE: '1', HF_HUB_OFFLINE: '1' } }));
    expect(report.datasets.tagged).toEqual({ rows: 2, columns: ['answer_grounded', 'episode_id', 'failed_steps', 'model', 'prompt_profile', 'question', 'status', 'structural_reward', 'text'] });
    expect(report.datasets.sft).toEqual({ rows: 2, columns: ['answer_grounded', 'episode_id', 'failed_steps', 'messages', 'model', 'prompt_profile', 'status', 'structural_reward'] });
    expect(report.datasets['sft-split']).toEqual(report.datasets.sft);
    expect(report.datasets.grpo).toEqual({ rows: 2, columns: ['answer', 'answer_grounded', 'data_files', 'episode_id', 'failed_steps', 'model', 'prompt', 'prompt_profile', 'status', 'structural_reward'] });
    expect(report.datasets.dpo).toEqual({ rows: 2, columns: ['answer_grounded', 'chosen', 'episode_id', 'failed_steps', 'model', 'prompt', 'prompt_profile', 'rejected', 'status', 'step', 'structural_reward'] });
    expect(report.datasets.kto).toEqual({ rows: 3, columns: ['answer_grounded', 'completion', 'episode_id', 'failed_steps', 'label', 'model', 'prompt', 'prompt_profile', 'status', 'step', 'structural_reward'] });
    expect(report.notebooks).toHaveLength(2);

    const all = readdirSync(out)
      .filter(f => f.endsWith('.jsonl'))
      .map(f => readFileSync(path.join(out, f), 'utf8'))
      .concat(readdirSync(path.join(out, 'ipynb')).map(f => readFileSync(path.join(out, 'ipynb', f), 'utf8')))
      .join('\n');
    for (const secret of SECRETS) {
      expect(all).not.toContain(secret);
    }
    // sft-split: observations are user turns, never assistant text.
    const sft = JSON.parse(readFileSync(path.join(out, 'sft-split.jsonl'), 'utf8').split('\n')[0]);
    for (const message of sft.messages) {
      if (message.role === 'assistant') {
        expect(message.content).not.toContain('<observation>');
      }
    }
    const grpo = JSON.parse(readFileSync(path.join(out, 'grpo.jsonl'), 'utf8').split('\n')[0]);
    expect(grpo.data_files).toEqual(['data/sales.csv']);
    expect(grpo.answer).toBe('The mean price is 12.5.');
    const tagged = JSON.parse(readFileSync(path.join(out, 'tagged.jsonl'), 'utf8').split('\n')[0]);
    expect(tagged.structural_reward).toBe(1);
    expect(tagged.text).toMatch(/^<step>\n<thought>Load the data.<\/thought>[\s\S]*<\/stop_analysis>$/);

    // DPO: one pair from the edit logged afterwards (ep-a), one from the approval-time edit (ep-b);
    // the user's code is chosen, the model's rejected, after the conversation up to that step.
    const rows = (format: string) => readFileSync(path.join(out, `${format}.jsonl`), 'utf8').trim().split('\n').map(line => JSON.parse(line));
    const dpo = rows('dpo');
    expect(dpo.map(r => [r.episode_id, r.step])).toEqual([['ep-a', 1], ['ep-b', 1]]);
    expect(JSON.stringify(dpo[0].chosen)).toContain('print(round(df[\\"Price\\"].mean(), 2))');
    expect(JSON.stringify(dpo[0].rejected)).toContain('print(df[\\"Price\\"].mean())');
    expect(JSON.stringify(dpo[0].rejected)).not.toContain('round(');
    expect(JSON.stringify(dpo[1].chosen)).toContain('df[\\"Price\\"]');
    expect(JSON.stringify(dpo[1].rejected)).toContain('df[\\"price\\"]');
    for (const row of dpo) {
      expect(row.chosen[0].content).toMatch(/^<step>[\s\S]*<thought>Use the right column.<\/thought>[\s\S]*<\/step>$/);
      // The conversation up to step 1: step 0 with its observation (inside the assistant turn, as the
      // model saw it), then the harness's user turn; never step 1's own.
      const [step0, after] = row.prompt.slice(-2);
      expect(step0.role).toBe('assistant');
      expect(step0.content).toContain('<observation>');
      expect(after.role).toBe('user');
      expect(JSON.stringify(row.prompt)).not.toContain('Use the right column.');
    }
    expect(dpo[1].prompt.some((m: any) => m.content.includes('Another question?'))).toBe(true);
    // KTO: each thumb becomes a row with its label, on the step (or the answer) it rated.
    const kto = rows('kto');
    expect(kto.map(r => [r.episode_id, r.step, r.label])).toEqual([
      ['ep-a', -1, true],
      ['ep-a', 1, true],
      ['ep-b', 0, false]
    ]);
    expect(kto[0].completion[0].content).toContain('The mean price is 12.5.');
    expect(kto[1].completion[0].content).toContain('print(df["Price"].mean())');
    expect(kto[2].completion[0].content).toContain('<thought>Load the data.</thought>');
    expect(kto[2].prompt.some((m: any) => m.content.includes('Another question?'))).toBe(true);
  });

  it('filters exports by rating, model, notebook, time, finish and reward, and drops duplicates', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-log-')), 'e.jsonl');
    const s = new EpisodeStore(file, { redactor: new Redactor(), images: 'drop', maxOutputChars: 20000 });
    await s.appendEpisode(episode('base'));
    await s.appendEpisode(episode('same-again')); // the same question and steps logged twice
    await s.appendEpisode(episode('other-model', { model: 'other', question: 'Q2?' }));
    await s.appendEpisode(episode('other-notebook', { notebook: 'other.ipynb', question: 'Q3?' }));
    await s.appendEpisode(episode('unfinished', { status: 'stopped', answer: null, question: 'Q4?' }));
    await s.appendEpisode(episode('early', { startedAt: '2020-01-01T00:00:00.000Z', question: 'Q5?' }));
    await s.appendEpisode(episode('no-structure', { question: 'Q6?', steps: [{ ...episode('x').steps[1], thought: '' }], answer: null, status: 'error_limit' }));
    await s.appendFeedback('other-model', null, 'up');
    await s.appendFeedback('early', null, 'down');
    const out = mkdtempSync(path.join(os.tmpdir(), 'datarus-export-'));
    let n = 0;
    const ids = (args: string[]) => {
      const target = path.join(out, `${n++}.jsonl`);
      execFileSync(process.execPath, [path.join(ROOT, 'bin', 'datarus.js'), 'export', '--format', 'tagged', '--log', file, '--out', target, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      const text = readFileSync(target, 'utf8').trim();
      return text ? text.split('\n').map(line => JSON.parse(line).episode_id) : [];
    };
    const everything = ids([]);
    expect(everything).toEqual(['base', 'other-model', 'other-notebook', 'unfinished', 'early', 'no-structure']);
    expect(ids(['--feedback', 'up'])).toEqual(['other-model']);
    expect(ids(['--feedback', 'down'])).toEqual(['early']);
    expect(ids(['--feedback', 'rated'])).toEqual(['other-model', 'early']);
    expect(ids(['--model', 'other'])).toEqual(['other-model']);
    expect(ids(['--notebook', 'other.ipynb'])).toEqual(['other-notebook']);
    expect(ids(['--since', '2021-01-01T00:00:00Z'])).not.toContain('early');
    expect(ids(['--until', '2021-01-01T00:00:00Z'])).toEqual(['early']);
    expect(ids(['--finished'])).not.toContain('unfinished');
    expect(ids(['--min-reward', '1'])).not.toContain('no-structure');
  });

  it('filters exports and never overwrites', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'datarus-export-'));
    const cli = (args: string[]) =>
      execFileSync(process.execPath, [path.join(ROOT, 'bin', 'datarus.js'), 'export', '--log', log, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    cli(['--format', 'tagged', '--feedback', 'up', '--out', path.join(out, 'up.jsonl')]);
    expect(readFileSync(path.join(out, 'up.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
    expect(() => cli(['--format', 'tagged', '--out', path.join(out, 'up.jsonl')])).toThrow(/already exists: nothing was overwritten/);
    expect(readFileSync(path.join(out, 'up.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
    // A repeated notebook export is refused and every notebook of the first one is still there, as it was.
    cli(['--format', 'ipynb', '--out', path.join(out, 'nb')]);
    const notebooks = () => readdirSync(path.join(out, 'nb')).map(f => [f, readFileSync(path.join(out, 'nb', f), 'utf8')]);
    const first = notebooks();
    expect(first.length).toBeGreaterThan(0);
    expect(() => cli(['--format', 'ipynb', '--out', path.join(out, 'nb')])).toThrow(/already exists: nothing was overwritten/);
    expect(notebooks()).toEqual(first);
  });

  it('exports through the API only inside the exports folder', async () => {
    const outside = await post('export', { format: 'sft', path: '../../escape.jsonl' });
    expect(outside.status).toBe(400);
    expect(outside.body.error.code).toBe('path_outside');
    const inside = await post('export', { format: 'sft', path: 'run1/sft.jsonl' });
    expect(inside.status).toBe(200);
    expect(existsSync(path.join(dir, 'exports', 'run1', 'sft.jsonl'))).toBe(true);
    const again = await post('export', { format: 'sft', path: 'run1/sft.jsonl' });
    expect(again.status).toBe(409);
    // Notebooks: the refused repeat keeps every notebook the first export wrote.
    expect((await post('export', { format: 'ipynb', path: 'nb' })).status).toBe(200);
    const notebooks = () => readdirSync(path.join(dir, 'exports', 'nb')).map(f => [f, readFileSync(path.join(dir, 'exports', 'nb', f), 'utf8')]);
    const first = notebooks();
    expect((await post('export', { format: 'ipynb', path: 'nb' })).status).toBe(409);
    expect(notebooks()).toEqual(first);
    // A symlinked folder inside the exports folder that points outside it is outside.
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'datarus-elsewhere-'));
    symlinkSync(elsewhere, path.join(dir, 'exports', 'linked'));
    const linked = await post('export', { format: 'sft', path: 'linked/sft.jsonl' });
    expect([linked.status, linked.body.error.code]).toEqual([400, 'path_outside']);
    expect(readdirSync(elsewhere)).toEqual([]);
    const nul = await post('export', { format: 'sft', path: 'a\u0000.jsonl' });
    expect([nul.status, nul.body.error.code]).toEqual([400, 'invalid_request']);
    const rows = await post('export', { format: 'grpo' });
    expect(rows.body.rows).toHaveLength(2);
  });

  it('redacts again at export: a log written without redaction exports no secret (API and CLI)', async () => {
    // Secrets an older version did not know, written straight to the log as it would have kept them.
    const clear = ['ASIAY34FZKBOKMUTVV7A', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnop', 'pass word;with spaces', 'pg-secret-77', 'dXNlcjpwYXNzd29yZA=='];
    const raw = episode('ep-unredacted', { question: 'Old log question?' });
    raw.steps[0].code = `key = "${clear[0]}"\ntok = "${clear[1]}"\npassword = "${clear[2]}"\nengine = create_engine("HTTPS://u:${clear[3]}@db/x")`;
    raw.steps[0].observation = `Authorization: Basic ${clear[4]}`;
    appendFileSync(log, JSON.stringify({ v: 1, type: 'episode', at: new Date().toISOString(), episode: raw }) + '\n');
    expect(readFileSync(log, 'utf8')).toContain(clear[1]);

    const texts: string[] = [];
    for (const format of ['tagged', 'sft', 'sft-split', 'grpo', 'dpo', 'kto', 'ipynb']) {
      const response = await post('export', { format });
      expect(response.status).toBe(200);
      texts.push(JSON.stringify(response.body));
    }
    const out = mkdtempSync(path.join(os.tmpdir(), 'datarus-export-'));
    for (const format of ['tagged', 'sft', 'sft-split']) {
      execFileSync(process.execPath, [path.join(ROOT, 'bin', 'datarus.js'), 'export', '--format', format, '--log', log, '--out', path.join(out, `${format}.jsonl`)]);
      texts.push(readFileSync(path.join(out, `${format}.jsonl`), 'utf8'));
    }
    execFileSync(process.execPath, [path.join(ROOT, 'bin', 'datarus.js'), 'export', '--format', 'ipynb', '--log', log, '--out', path.join(out, 'ipynb')]);
    texts.push(...readdirSync(path.join(out, 'ipynb')).map(f => readFileSync(path.join(out, 'ipynb', f), 'utf8')));
    const all = texts.join('\n');
    expect(all).toContain('Old log question?');
    for (const secret of clear) {
      expect(all).not.toContain(secret);
    }
  });
});

describe('episode log on disk', () => {
  const store = (file: string) => new EpisodeStore(file, { redactor: new Redactor(), images: 'drop', maxOutputChars: 100 });

  it('skips a damaged tail and starts the next record on a line of its own', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-log-')), 'e.jsonl');
    await store(file).appendEpisode(episode('one'));
    appendFileSync(file, '{"v":1,"type":"episode","at":"x","episode":{"id":"cut'); // a crash mid-write
    await store(file).appendEpisode(episode('two'));
    const read = await store(file).read();
    expect(read.episodes.map(e => e.episode.id)).toEqual(['one', 'two']);
    expect(read.skipped).toEqual([{ line: 2, reason: 'not valid JSON' }]);
  });

  it('migrates lines of the older format and reports lines of a newer one', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-log-')), 'e.jsonl');
    const old = episode('old-format');
    writeFileSync(file, `${JSON.stringify(old)}\n${JSON.stringify({ v: 2, type: 'episode', at: 'x', episode: episode('future') })}\n`);
    const read = await store(file).read();
    expect(read.episodes.map(e => e.episode.id)).toEqual(['old-format']);
    expect(read.migrated).toBe(1);
    expect(read.skipped[0].reason).toMatch(/newer Datarus Lab \(log schema v2/);
  });

  it('says the disk is full', async () => {
    await expect(store('/dev/full').appendEpisode(episode('x'))).rejects.toThrow(/the disk is full: the episode was not logged/);
  });

  it('loses nothing already logged when the disk fills up, and logs again once there is room', () => {
    // A real full disk: a 64 KiB tmpfs in a private mount namespace (unshare, no privileges needed beyond a user namespace).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-full-'));
    const writer = path.join(__dirname, 'fixtures', 'full-disk-writer.js');
    const script = `mount -t tmpfs -o size=64k tmpfs "$1" && exec "$2" "$3" "$1"`;
    const out = execFileSync('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', script, 'sh', dir, process.execPath, writer], { encoding: 'utf8' });
    const result = JSON.parse(out);
    expect(result.error).toMatch(/the disk is full: the episode was not logged/);
    expect(result.unchanged).toBe(true);
    expect(result.ids).toEqual(['kept', 'after']);
    expect(result.skipped).toEqual([]);
  });

  it('caps outputs and drops images when asked', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-log-')), 'e.jsonl');
    const long = episode('long');
    long.steps[1].outputs = [{ output_type: 'stream', name: 'stdout', text: 'z'.repeat(5000) }];
    await store(file).appendEpisode(long);
    const [stored] = (await store(file).read()).episodes;
    expect(String(stored.episode.steps[1].outputs![0].text).length).toBeLessThan(200);
    expect(JSON.stringify(stored.episode.steps[0].outputs)).not.toContain('image/png');
  });

  it('keeps every finished episode when the writer is killed with SIGKILL, 50 times', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-crash-')), 'e.jsonl');
    const acked: string[] = [];
    for (let round = 0; round < 50; round++) {
      const writer = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'crash-writer.js'), file, `r${round}`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      writer.stdout.on('data', d => (out += d));
      // Wait for a first acknowledged append, then kill at a random moment of the next ones.
      while (!out.includes('ack ') && writer.exitCode === null) {
        await new Promise(r => setTimeout(r, 2));
      }
      await new Promise(r => setTimeout(r, Math.random() * 25));
      writer.kill('SIGKILL');
      await once(writer, 'exit');
      acked.push(...[...out.matchAll(/ack (\S+)\n/g)].map(m => m[1]));
      const read = await store(file).read();
      const ids = new Set(read.episodes.map(e => e.episode.id));
      for (const id of acked) {
        expect(ids.has(id)).toBe(true);
      }
      // Only a cut-off last line may be unreadable, never a line in the middle of the file.
      const lines = readFileSync(file, 'utf8').split('\n');
      for (const skip of read.skipped) {
        expect(skip.line).toBeGreaterThanOrEqual(1);
        expect(lines[skip.line - 1].startsWith('{')).toBe(true);
      }
      expect(read.skipped.filter(s => s.reason !== 'not valid JSON' && !s.reason.startsWith('cut-off'))).toEqual([]);
    }
    expect(acked.length).toBeGreaterThanOrEqual(50);
  });
});

describe('episode log with a full disk through the host', () => {
  it('answers 507 and keeps serving', async () => {
    const host = await startHost(['--token', TOKEN, '--episodes-file', '/dev/full']);
    try {
      const response = await getJson(`${host.url}/api/log/episodes`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ episode: episode('x') }) });
      expect(response.status).toBe(507);
      expect(response.body.error.message).toMatch(/disk is full/);
      expect((await getJson(`${host.url}/api/status`, { headers: HEADERS })).status).toBe(200);
    } finally {
      await host.stop();
    }
  });
});
