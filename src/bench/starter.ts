/**
 * `npm run bench:starter`: can a starter model do the job? Ten data questions
 * about CSV files (starterTasks.ts), each a real episode: the agent loop, the
 * model host as a `datarus serve` child, and a fresh ipykernel per question on a
 * Jupyter server started here, reached from Node with @jupyterlab/services. The
 * final answer is checked against the known value. Writes the `starter` entry of
 * benchmarks/results.json and the "Starter model" section of BENCHMARKS.md.
 *
 *   npm run bench:starter -- --models qwen2.5-coder-1.5b,qwen2.5-coder-0.5b --prompts datarus,compact
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { HostModel } from '../agent/hostModel';
import { KernelRunner } from '../agent/kernelRunner';
import { AgentLoop } from '../agent/loop';
import type { AgentModel } from '../agent/types';
import { COMPACT_SYSTEM_PROMPT } from '../protocol';
import { answerMatches, makeStarterData, StarterTask } from './starterTasks';
import { freePort } from './util';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'datarus.js');
const VENV_BIN = path.join(ROOT, '.venv', 'bin');
/** Analyze's defaults (schema/agent.json), except a step cap that keeps a failing question from running for ten minutes. */
const TEMPERATURE = 0.6;
const MAX_STEPS = 10;
/** Per question; `--budget SECONDS` raises it on a machine that is busy with other work. */
let episodeBudgetMs = 300000;

/** System prompts the bench can run; `datarus` is the loop's own. */
const PROMPTS: Record<string, string | null> = { datarus: null, compact: COMPACT_SYSTEM_PROMPT };

interface TaskResult {
  id: string;
  solved: boolean;
  seconds: number;
  status: string;
  steps: number;
  answer: string | null;
  reason?: string;
}

interface RunResult {
  model: string;
  prompt: string;
  'starter.tasks_solved': number;
  tasks: number;
  medianEpisodeSeconds: number;
  budgetSeconds: number;
  loadAverage: { before: number; mean: number; after: number };
  threads: unknown;
  tasksRun: TaskResult[];
}

function sleep(ms: number): Promise<void> {
  return new Promise(r => setTimeout(r, ms));
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface Child {
  url: string;
  token: string;
  proc: ChildProcess;
}

/** Host and Jupyter processes started here, stopped if the benchmark is interrupted. */
const children = new Set<ChildProcess>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    children.forEach(child => child.kill('SIGTERM'));
    process.exit(130);
  });
}

async function waitReady(check: () => Promise<string | null>, proc: ChildProcess, what: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 600000;
  for (;;) {
    const state = await check().catch(() => null);
    if (state === 'ready') {
      return;
    }
    if (state === 'error' || proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGTERM');
      throw new Error(`${what} did not become ready:\n${log().slice(-2000)}`);
    }
    await sleep(250);
  }
}

async function startHost(model: string): Promise<Child> {
  const token = randomBytes(12).toString('hex');
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--model', model, '--token', token, '--max-episodes', '2'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe']
  });
  children.add(proc);
  let err = '';
  proc.stderr!.on('data', d => (err += d));
  let url = '';
  await waitReady(
    async () => {
      url ||= /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err)?.[1] ?? '';
      if (!url) {
        return null;
      }
      const status = (await (await fetch(`${url}/api/status`, { headers: { Authorization: `Bearer ${token}` } })).json()) as any;
      return status.state === 'idle' && status.error ? 'error' : status.state;
    },
    proc,
    `the host with ${model}`,
    () => err
  );
  return { url, token, proc };
}

/** A Jupyter server for the kernels only (the host runs apart), rooted where the CSV files are. */
async function startJupyter(root: string): Promise<Child> {
  const port = await freePort();
  const token = randomBytes(12).toString('hex');
  const proc = spawn(
    path.join(VENV_BIN, 'jupyter'),
    ['server', '--no-browser', `--ServerApp.port=${port}`, '--ServerApp.ip=127.0.0.1', `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${root}`, '--ServerApp.allow_root=True'],
    { env: { ...process.env, PATH: `${VENV_BIN}:${process.env.PATH}` }, stdio: ['ignore', 'ignore', 'pipe'] }
  );
  children.add(proc);
  let err = '';
  proc.stderr!.on('data', d => (err += d));
  const url = `http://127.0.0.1:${port}`;
  await waitReady(async () => ((await fetch(`${url}/api/status`, { headers: { Authorization: `token ${token}` } })).ok ? 'ready' : null), proc, 'Jupyter', () => err);
  return { url, token, proc };
}

async function stop(child: Child): Promise<void> {
  if (child.proc.exitCode === null) {
    child.proc.kill('SIGTERM');
    await new Promise(resolve => child.proc.once('exit', resolve));
  }
}

/**
 * Waits until the host has stopped generating (its output-token count holds
 * still): a question cut off by the time budget must not slow the next one.
 */
async function waitIdle(host: Child): Promise<void> {
  let last = -1;
  for (;;) {
    const status = (await (await fetch(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${host.token}` } })).json()) as any;
    const tokens = status.episodes?.outputTokens ?? 0;
    if (tokens === last) {
      return;
    }
    last = tokens;
    await sleep(1500);
  }
}

/** The host as the agent's model, with the loop's system prompt swapped for another one. */
function withSystemPrompt(model: AgentModel, system: string | null): AgentModel {
  if (system === null) {
    return model;
  }
  return {
    name: model.name,
    complete: (request, onText) =>
      model.complete({ ...request, messages: request.messages.map(m => (m.role === 'system' ? { ...m, content: system } : m)) }, onText),
    endEpisode: id => model.endEpisode?.(id) ?? Promise.resolve()
  };
}

/** Samples the 1-minute load average while a run goes on. */
function loadSampler(): { stop(): { before: number; mean: number; after: number } } {
  const before = os.loadavg()[0];
  const samples: number[] = [before];
  const timer = setInterval(() => samples.push(os.loadavg()[0]), 5000);
  return {
    stop() {
      clearInterval(timer);
      const after = os.loadavg()[0];
      samples.push(after);
      return { before, mean: samples.reduce((a, b) => a + b, 0) / samples.length, after };
    }
  };
}

async function runModel(modelName: string, prompts: string[], tasks: StarterTask[], jupyter: Child, save: (run: RunResult) => void): Promise<void> {
  const { KernelManager, ServerConnection } = await import('@jupyterlab/services');
  const { default: WebSocket } = await import('ws');
  const settings = ServerConnection.makeSettings({
    baseUrl: `${jupyter.url}/`,
    wsUrl: `${jupyter.url.replace('http', 'ws')}/`,
    token: jupyter.token,
    appendToken: true,
    WebSocket: WebSocket as any,
    fetch: fetch as any
  });
  const kernels = new KernelManager({ serverSettings: settings });
  const host = await startHost(modelName);
  try {
    const status = (await (await fetch(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${host.token}` } })).json()) as any;
    const hostModel = new HostModel(
      (p, init) => fetch(`${host.url}/api/${p}`, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${host.token}` } }),
      modelName
    );
    for (const prompt of prompts) {
      const model = withSystemPrompt(hostModel, PROMPTS[prompt]);
      const load = loadSampler();
      const done: TaskResult[] = [];
      for (const task of tasks) {
        const kernel = await kernels.startNew({ name: 'python3' });
        const budget = AbortSignal.timeout(episodeBudgetMs);
        const started = performance.now();
        const episode = await new AgentLoop(model, new KernelRunner(kernel)).run({
          episodeId: `starter-${prompt}-${task.id}`,
          question: task.question,
          temperature: TEMPERATURE,
          limits: { maxSteps: MAX_STEPS },
          signal: budget
        });
        const seconds = (performance.now() - started) / 1000;
        await kernel.shutdown().catch(() => undefined);
        await waitIdle(host);
        const answer = episode.answer?.text ?? null;
        const result: TaskResult = {
          id: task.id,
          solved: answer !== null && answerMatches(answer, task.expected),
          seconds,
          status: budget.aborted ? 'time_budget' : episode.status,
          steps: episode.steps.length,
          answer,
          reason: episode.reason
        };
        done.push(result);
        process.stderr.write(
          `${modelName} ${prompt} ${task.id}: ${result.solved ? 'solved' : 'not solved'} in ${seconds.toFixed(1)} s ` +
            `(${result.status}${episode.reason ? `: ${episode.reason}` : ''}, ${result.steps} steps) ${JSON.stringify(answer)}\n`
        );
      }
      save({
        model: modelName,
        prompt,
        'starter.tasks_solved': done.filter(t => t.solved).length,
        tasks: done.length,
        medianEpisodeSeconds: median(done.map(t => t.seconds)),
        budgetSeconds: episodeBudgetMs / 1000,
        loadAverage: load.stop(),
        threads: status.threads,
        tasksRun: done
      });
    }
  } finally {
    await stop(host);
    await kernels.shutdownAll().catch(() => undefined);
    kernels.dispose();
  }
}

function markdownSection(runs: RunResult[], date: string): string[] {
  const ids = makeStarterData().tasks.map(t => t.id);
  return [
    '## Starter model',
    '',
    `Written by \`npm run bench:starter\` on ${date.slice(0, 10)} (${os.cpus().length} cores). Ten data questions about CSV files the bench`,
    'writes (sum, group-by maximum, mean, count, maximum, filter, date range, join, most frequent value, mean of',
    'another file), each a real episode: agent loop, `datarus serve` host, a fresh ipykernel per question. Solved means',
    `the final answer gives the known value. Analyze's defaults (temperature ${TEMPERATURE}, no grammar), at most ${MAX_STEPS} steps, and a`,
    `time budget per question (column "budget"). **The machine was shared with other developers' builds, tests and models during`,
    'the run: episode times are inflated by an unknown factor; the load average (1 min, 2 cores) is in the table.**',
    '',
    '| model | prompt | `starter.tasks_solved` (goal ≥ 6/10) | median episode (goal ≤ 90 s) | budget | load avg before / mean / after |',
    '|---|---|---|---|---|---|',
    ...runs.map(
      r =>
        `| ${r.model} | ${r.prompt} | ${r['starter.tasks_solved']}/${r.tasks} | ${r.medianEpisodeSeconds.toFixed(1)} s | ${r.budgetSeconds} s | ` +
        `${r.loadAverage.before.toFixed(1)} / ${r.loadAverage.mean.toFixed(1)} / ${r.loadAverage.after.toFixed(1)} |`
    ),
    '',
    'Per question (solved ✓, episode seconds):',
    '',
    `| model · prompt | ${ids.join(' | ')} |`,
    `|---|${ids.map(() => '---|').join('')}`,
    ...runs.map(r => {
      const cells = ids.map(id => r.tasksRun.find(t => t.id === id)).map(t => (t ? `${t.solved ? '✓' : '✗'} ${t.seconds.toFixed(0)}` : '–'));
      return `| ${r.model} · ${r.prompt} | ${cells.join(' | ')} |`;
    }),
    ''
  ];
}

/** Puts the section into BENCHMARKS.md in place of an older one, keeping every other section. */
export function replaceSection(document: string, section: string[], heading = '## Starter model'): string {
  const lines = document.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) {
    return `${document.replace(/\n*$/, '\n\n')}${section.join('\n')}`;
  }
  let end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  end = end < 0 ? lines.length : end;
  return [...lines.slice(0, start), ...section, ...lines.slice(end)].join('\n');
}

function option(name: string, fallback: string): string[] {
  const at = process.argv.indexOf(`--${name}`);
  return (at >= 0 ? process.argv[at + 1] : fallback).split(',').filter(Boolean);
}

async function main(): Promise<void> {
  const models = option('models', 'qwen2.5-coder-1.5b,qwen2.5-coder-0.5b');
  const prompts = option('prompts', 'datarus,compact');
  for (const prompt of prompts) {
    if (!(prompt in PROMPTS)) {
      throw new Error(`unknown prompt ${prompt}: one of ${Object.keys(PROMPTS).join(', ')}`);
    }
  }
  const only = option('tasks', '');
  episodeBudgetMs = Number(option('budget', String(episodeBudgetMs / 1000))[0]) * 1000;
  const data = makeStarterData();
  const tasks = only.length ? data.tasks.filter(t => only.includes(t.id)) : data.tasks;
  const root = mkdtempSync(path.join(os.tmpdir(), 'datarus-starter-'));
  for (const [name, text] of Object.entries(data.files)) {
    writeFileSync(path.join(root, name), text);
  }
  const jupyter = await startJupyter(root);
  const runs: RunResult[] = [];
  try {
    for (const model of models) {
      // Results are written after every run, so a long benchmark cut short keeps what it measured.
      await runModel(model, prompts, tasks, jupyter, run => {
        runs.push(run);
        writeResults(runs);
      });
    }
  } finally {
    await stop(jupyter);
    rmSync(root, { recursive: true, force: true });
  }
}

function writeResults(measured: RunResult[]): void {
  let runs = measured;
  const date = new Date().toISOString();
  const resultsFile = path.join(ROOT, 'benchmarks', 'results.json');
  const results = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : {};
  // Runs of other models and prompts measured earlier stay; a new run replaces the old one of its model and prompt.
  const key = (r: RunResult) => `${r.model}\u0000${r.prompt}`;
  const fresh = new Set(runs.map(key));
  runs = [...((results.starter?.runs ?? []) as RunResult[]).filter(r => !fresh.has(key(r))), ...runs];
  const markdown = markdownSection(runs, date);
  results.starter = { date, temperature: TEMPERATURE, maxSteps: MAX_STEPS, episodeBudgetSeconds: episodeBudgetMs / 1000, runs, markdown };
  writeFileSync(resultsFile, JSON.stringify(results, null, 2) + '\n');
  const benchmarksFile = path.join(ROOT, 'BENCHMARKS.md');
  writeFileSync(benchmarksFile, replaceSection(existsSync(benchmarksFile) ? readFileSync(benchmarksFile, 'utf8') : '# Benchmarks\n', markdown));
  process.stdout.write(markdown.join('\n') + '\n');
}

if (require.main === module) {
  main().catch(err => {
    process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
    process.exit(1);
  });
}
