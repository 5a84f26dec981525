/**
 * One question, one data file, three front doors, one first prompt: the
 * sha256 of the first turn's messages is the same from Analyze's path (the
 * context gathered as src/lab/analyze.ts gathers it, in a kernel of a Jupyter
 * server with the extension, the turn written by that server's host), from
 * `datarus run --data` (its own host and kernel) and from `%%datarus --data`
 * (a kernel of the same server, through an agent session). Each front door
 * records the hash in its episode; the fixture model is forced by grammars.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { KernelManager } from '@jupyterlab/services';

import { gatherContext } from '../../src/agent/gatherContext';
import { HostModel } from '../../src/agent/hostModel';
import { KernelRunner } from '../../src/agent/kernelRunner';
import { AgentLoop } from '../../src/agent/loop';
import type { Episode } from '../../src/episode/types';
import { nodeServerSettings } from '../../src/headless/serverSettings';
import { DEFAULT_PROFILE_NAME, formatAnswer, formatStep } from '../../src/protocol';
import { CLI, MODELS_DIR, ROOT } from './paths';
import { getJson, runContext, RunningJupyter, startJupyter, waitForStatus } from './processes';

jest.setTimeout(900000);

const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;
const TURNS = [
  exactly(formatStep({ thought: 'Total units by region.', code: "import pandas as pd\nprint(pd.read_csv('sales.csv').groupby('region').units.sum().idxmax())" })),
  exactly(formatAnswer({ thought: 'It printed the region.', text: 'North' }))
];
// As a user asks it: the file is not named, it is in the working folder (Analyze) or given with --data.
const QUESTION = 'Which region sold the most units?';
const SALES = path.join(ROOT, 'test', 'fixtures', 'dabench', 'sales.csv');
/** Analyze's notebook-context budget: the settings schema's default. */
const ANALYZE_BUDGET: number = JSON.parse(readFileSync(path.join(ROOT, 'schema', 'agent.json'), 'utf8')).properties.contextTokenBudget.default;

function episodesIn(file: string): Episode[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(line => line.trim())
    .map(line => JSON.parse(line))
    .map(line => line.episode ?? line)
    .filter(e => Array.isArray(e.steps));
}

describe('the first prompt of one question with one data file', () => {
  let jupyter: RunningJupyter;
  let kernels: KernelManager;
  let work: string;
  let serverLog: string;

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'datarus-first-prompt-'));
    serverLog = path.join(work, 'server-episodes.jsonl');
    // This checkout's Python package in the server and its kernels, before any editable install of another.
    jupyter = await startJupyter([], { PYTHONPATH: ROOT, DATARUS_HOST_DIR: ROOT, DATARUS_MODELS_DIR: MODELS_DIR, DATARUS_EPISODES_FILE: serverLog });
    kernels = new KernelManager({ serverSettings: await nodeServerSettings(jupyter.url, jupyter.token) });
    await waitForStatus(() => getJson(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } }), s => s.state === 'ready', 240000);
  });

  afterAll(async () => {
    await kernels?.shutdownAll().catch(() => undefined);
    kernels?.dispose();
    await jupyter?.stop();
  });

  /** A kernel of the server whose working folder holds only the data file (and the forced turns). */
  async function kernelIn(name: string) {
    const folder = path.join(work, name);
    mkdirSync(folder);
    copyFileSync(SALES, path.join(folder, 'sales.csv'));
    writeFileSync(path.join(folder, 'turns.json'), JSON.stringify(TURNS));
    const kernel = await kernels.startNew({ name: 'python3' });
    const runner = new KernelRunner(kernel);
    const moved = await runner.run(`import os as _os; _os.chdir(${JSON.stringify(folder)}); del _os`, runContext('setup', 0));
    expect(moved.status).toBe('ok');
    return { folder, runner };
  }

  it('is byte-identical from Analyze, `datarus run` and %%datarus', async () => {
    // Analyze: an empty notebook (its one cell empty), the kernel read silently, the server's host writing the turn.
    const analyze = await kernelIn('analyze');
    const headers = { Authorization: `token ${jupyter.token}` };
    const model = new HostModel((p, init) => fetch(`${jupyter.url}/datarus/api/${p}`, { ...init, headers: { ...(init.headers as Record<string, string>), ...headers } }), 'datarus-test-tiny');
    const status = (await getJson(`${jupyter.url}/datarus/api/status`, { headers })).body;
    const context = await gatherContext({ question: QUESTION, cells: [{ cellType: 'code', source: '' }], inspect: e => analyze.runner.inspect(e), budgetTokens: ANALYZE_BUDGET });
    const fromAnalyze = await new AgentLoop(model, analyze.runner).run({
      episodeId: 'first-prompt-analyze',
      question: QUESTION,
      context,
      profile: status.model?.promptProfile ?? DEFAULT_PROFILE_NAME,
      grammar: turn => TURNS[Math.min(turn, TURNS.length - 1)]
    });
    expect(fromAnalyze.status).toBe('answered');

    // %%datarus in a kernel of the same server: the server's host runs the session.
    const magic = await kernelIn('magic');
    const ran = await magic.runner.run(`%load_ext datarus_jupyterlab\n`, runContext('setup', 1));
    expect(ran.status).toBe('ok');
    const cell = await magic.runner.run(`%%datarus --data sales.csv --grammar turns.json --max-steps 3\n${QUESTION}`, runContext('setup', 2, 600000));
    expect(cell.status).toBe('ok');
    const fromMagic = episodesIn(serverLog).find(e => e.question === QUESTION)!;
    expect(fromMagic).toBeDefined();

    // `datarus run --data`: its own embedded host and a fresh kernel of its own.
    const runLog = path.join(work, 'run-episodes.jsonl');
    const code = await new Promise<number | null>(resolve => {
      const proc = spawn(
        process.execPath,
        [CLI, 'run', QUESTION, '--data', path.join(analyze.folder, 'sales.csv'), '--grammar', path.join(analyze.folder, 'turns.json'), '--log', runLog, '--max-steps', '3', '--model', 'datarus-test-tiny', '--threads', '1'],
        { cwd: work, env: { ...process.env, DATARUS_MODELS_DIR: MODELS_DIR }, stdio: 'ignore' }
      );
      proc.on('exit', resolve);
    });
    expect(code).toBe(0);
    const [fromRun] = episodesIn(runLog);

    // The same context text and the same first prompt, byte for byte.
    expect(fromMagic.context).toBe(fromAnalyze.context);
    expect(fromRun.context).toBe(fromAnalyze.context);
    expect(fromAnalyze.context).toContain("Data files in the kernel's working folder:\n- 'sales.csv': 12 rows;");
    const hashes = { analyze: fromAnalyze.steps[0].promptSha256, run: fromRun.steps[0].promptSha256, magic: fromMagic.steps[0].promptSha256 };
    expect(hashes.analyze).toMatch(/^[0-9a-f]{64}$/);
    expect(hashes).toEqual({ analyze: hashes.analyze, run: hashes.analyze, magic: hashes.analyze });
  });
});
