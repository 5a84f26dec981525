/**
 * `npm run bench:starter`: can a starter model do the job? Data questions
 * about CSV files (starterTasks.ts: the original ten, which name the columns
 * they need, and questions phrased as a user would ask them), each a real
 * episode with the context Analyze gives (the columns of the data files the
 * question names, read through the kernel): the agent loop, the
 * model host as a `datarus serve` child, and a fresh ipykernel per question on a
 * Jupyter server started here, reached from Node with @jupyterlab/services. The
 * final answer is checked against the known value. Writes the `starter` entry of
 * benchmarks/results.json and the `starter` section of BENCHMARKS.md.
 *
 *   npm run bench:starter -- --models qwen2.5-coder-1.5b,qwen2.5-coder-0.5b --prompts compact,generic
 *   npm run bench:starter -- --tasks sum,join --budget 600   # some questions; host CPU seconds per question
 *   npm run bench:starter -- --threads 1                     # the host's threads (default: it measures and chooses)
 *   npm run bench:starter -- --report                        # rewrite the section from results.json
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { kernelPolicy } from '../agent/codePolicy';
import { HostModel } from '../agent/hostModel';
import { gatherContext } from '../agent/gatherContext';
import { KernelRunner } from '../agent/kernelRunner';
import { AgentLoop } from '../agent/loop';
import { startJupyter as startKernelJupyter } from '../headless/jupyterProcess';
import { startServe } from '../headless/serveProcess';
import { DEFAULT_APPROVE_MODE, headlessApproval } from '../headless/approval';
import { profileNames } from '../protocol';
import { answerMatches, makeStarterData, StarterTask, TaskSet } from './starterTasks';
import { readResults, writePart } from './report';
import { benchHostEnv } from './processes';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'datarus.js');
const VENV_BIN = path.join(ROOT, '.venv', 'bin');
/** Analyze's defaults (schema/agent.json), except a step cap that keeps a failing question from running for ten minutes. */
const TEMPERATURE = 0.6;
const MAX_STEPS = 10;
/**
 * Per question, in CPU seconds of the host process (`--budget`): on a machine
 * shared with other work, wall time measures the neighbours; the host's CPU
 * time is what the model needed. Wall time has a generous cap of its own.
 */
let cpuBudgetSeconds = 300;
/** The host's `--threads` (`--threads`); none: the host measures 1..cores at load and chooses. */
let hostThreads: string | null = null;
const WALL_CAP_MS = 1800000;
/** USER_HZ: the unit of /proc CPU times, 100 on every Linux architecture Node supports. */
const CLOCK_TICKS = 100;


interface TaskResult {
  id: string;
  /** Which set the question is from (absent in results written before there were two). */
  set?: TaskSet;
  solved: boolean;
  /** Whether the final answer's values appear in what the episode printed (null: no answer, or measured before the check). */
  grounded?: boolean | null;
  /** Answers sent back for stating values no output showed. */
  sentBack?: number;
  seconds: number;
  /** CPU seconds the host process used during the episode (Linux /proc; null elsewhere). */
  hostCpuSeconds: number | null;
  /** Mean 1-minute load average during the episode. */
  loadAverage: number;
  /** What each step ran and saw, shortened: to read why a question failed. */
  stepLog: { status: string; code: string; observation: string }[];
  status: string;
  steps: number;
  answer: string | null;
  reason?: string;
}

interface RunResult {
  model: string;
  prompt: string;
  /** Solved questions of the original ten. */
  'starter.tasks_solved': number;
  tasks: number;
  /** Solved user-phrased questions, of `userTasks` run. */
  'starter.user_tasks_solved': number;
  userTasks: number;
  medianEpisodeSeconds: number;
  medianHostCpuSeconds: number | null;
  budgetSeconds: number;
  /** 1-minute load average sampled while the run's episodes ran: mean and highest. */
  loadAverage: { mean: number; max: number };
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
  const served = await startServe({
    listen: { port: 0 },
    args: ['--model', model, '--max-episodes', '2', ...(hostThreads ? ['--threads', hostThreads] : [])],
    token,
    env: benchHostEnv(),
    command: [process.execPath, CLI],
    cwd: ROOT,
    listenTimeoutMs: 600000
  });
  const { proc } = served;
  children.add(proc);
  let statusNote = '';
  const url = served.address;
  await waitReady(
    async () => {
      const status = (await (await fetch(`${url}/api/status`, { headers: { Authorization: `Bearer ${token}` } })).json()) as any;
      if (status.error) {
        statusNote = `\nstatus: ${status.state}: ${status.error}`;
      }
      return status.state === 'idle' && status.error ? 'error' : status.state;
    },
    proc,
    `the host with ${model}`,
    () => served.output() + statusNote
  );
  return { url, token, proc };
}

/** A Jupyter server for the kernels only (the host runs apart), rooted where the CSV files are. */
async function startJupyter(root: string): Promise<Child> {
  // Kernels started without a path run in the server's working folder: it is the root, with the CSV files.
  const jupyter = await startKernelJupyter({
    jupyter: path.join(VENV_BIN, 'jupyter'),
    root,
    env: { ...process.env, PATH: `${VENV_BIN}:${process.env.PATH}` },
    timeoutMs: 600000
  });
  children.add(jupyter.proc);
  return { url: jupyter.url, token: jupyter.token, proc: jupyter.proc };
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

/** User + system CPU seconds of a process, from /proc (Linux only). */
function cpuSeconds(pid: number | undefined): number | null {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** Samples the 1-minute load average while a run goes on. */
function loadSampler(): { stop(): number } {
  const samples: number[] = [os.loadavg()[0]];
  const timer = setInterval(() => samples.push(os.loadavg()[0]), 5000);
  return {
    stop() {
      clearInterval(timer);
      samples.push(os.loadavg()[0]);
      return samples.reduce((a, b) => a + b, 0) / samples.length;
    }
  };
}

const SET_OF = new Map(makeStarterData().tasks.map(t => [t.id, t.set]));

/** A run's totals from its questions (also after questions measured in separate invocations are merged). */
function summarize(
  run: Omit<RunResult, 'starter.tasks_solved' | 'tasks' | 'starter.user_tasks_solved' | 'userTasks' | 'medianEpisodeSeconds' | 'medianHostCpuSeconds' | 'loadAverage'>
): RunResult {
  // Solved needs a step that ran without error (also for results written before that rule).
  const done = run.tasksRun.map(t => ({ ...t, set: t.set ?? SET_OF.get(t.id) ?? 'original', solved: t.solved && t.stepLog.some(s => s.status === 'ok') }));
  const loads = done.map(t => t.loadAverage);
  const original = done.filter(t => t.set === 'original');
  const user = done.filter(t => t.set === 'user');
  return {
    ...run,
    tasksRun: done,
    'starter.tasks_solved': original.filter(t => t.solved).length,
    tasks: original.length,
    'starter.user_tasks_solved': user.filter(t => t.solved).length,
    userTasks: user.length,
    medianEpisodeSeconds: median(done.map(t => t.seconds)),
    medianHostCpuSeconds: done.every(t => t.hostCpuSeconds !== null) ? median(done.map(t => t.hostCpuSeconds!)) : null,
    loadAverage: { mean: loads.reduce((a, b) => a + b, 0) / loads.length, max: Math.max(...loads) }
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
      const done: TaskResult[] = [];
      for (const task of tasks) {
        const kernel = await kernels.startNew({ name: 'python3' });
        const cpuAtStart = cpuSeconds(host.proc.pid);
        const overBudget = new AbortController();
        const watch = setInterval(() => {
          const used = cpuSeconds(host.proc.pid);
          if (used !== null && cpuAtStart !== null && used - cpuAtStart > cpuBudgetSeconds) {
            overBudget.abort();
          }
        }, 1000);
        const budget = AbortSignal.any([overBudget.signal, AbortSignal.timeout(WALL_CAP_MS)]);
        const load = loadSampler();
        const started = performance.now();
        const runner = new KernelRunner(kernel);
        // What Analyze gives the model before the question in an empty notebook.
        const context = await gatherContext({ question: task.question, inspect: e => runner.inspect(e) });
        const episode = await new AgentLoop(hostModel, runner).run({
          episodeId: `starter-${prompt}-${task.id}`,
          question: task.question,
          context,
          profile: prompt,
          temperature: TEMPERATURE,
          limits: { maxSteps: MAX_STEPS },
          signal: budget,
          // As `datarus run` does: each step checked by the code policy, a flagged one refused (--approve risky).
          policy: kernelPolicy(e => runner.inspect(e)),
          hooks: { approve: headlessApproval(DEFAULT_APPROVE_MODE) }
        });
        const seconds = (performance.now() - started) / 1000;
        clearInterval(watch);
        const cpuAtEnd = cpuSeconds(host.proc.pid);
        const hostCpuSeconds = cpuAtStart !== null && cpuAtEnd !== null ? cpuAtEnd - cpuAtStart : null;
        await kernel.shutdown().catch(() => undefined);
        await waitIdle(host);
        const answer = episode.answer?.text ?? null;
        const result: TaskResult = {
          id: task.id,
          set: task.set,
          grounded: episode.answerGrounding?.grounded ?? null,
          sentBack: episode.rejectedAnswers?.length ?? 0,
          // A right value from an episode that never ran code successfully is a guess, not an answer.
          solved: answer !== null && answerMatches(answer, task.expected) && episode.steps.some(s => s.status === 'ok'),
          seconds,
          hostCpuSeconds,
          loadAverage: load.stop(),
          stepLog: episode.steps.map(s => ({ status: s.status, code: s.code.slice(0, 400), observation: s.observation.slice(0, 300) })),
          status: overBudget.signal.aborted ? 'cpu_budget' : budget.aborted ? 'wall_cap' : episode.status,
          steps: episode.steps.length,
          answer,
          reason: episode.reason
        };
        done.push(result);
        // Saved after every question, so a benchmark cut short keeps what it measured.
        save(summarize({ model: modelName, prompt, budgetSeconds: cpuBudgetSeconds, threads: status.threads, tasksRun: done }));
        process.stderr.write(
          `${modelName} ${prompt} ${task.id}: ${result.solved ? 'solved' : 'not solved'}${result.grounded === false ? ' (ungrounded)' : ''}${result.sentBack ? ' (one answer sent back)' : ''} in ${seconds.toFixed(1)} s, host CPU ${hostCpuSeconds?.toFixed(1)} s ` +
            `(${result.status}${episode.reason ? `: ${episode.reason}` : ''}, ${result.steps} steps) ${JSON.stringify(answer)}\n`
        );
      }
    }
  } finally {
    await stop(host);
    await kernels.shutdownAll().catch(() => undefined);
    kernels.dispose();
  }
}

function markdownSection(runs: RunResult[], date: string): string[] {
  const tasks = makeStarterData().tasks;
  const idsOf = (set: TaskSet) => tasks.filter(t => t.set === set).map(t => t.id);
  const userRuns = runs.filter(r => r.userTasks > 0);
  const perQuestion = (set: TaskSet, shown: RunResult[]) => {
    const ids = idsOf(set);
    return [
      `| model · prompt | ${ids.join(' | ')} |`,
      `|---|${ids.map(() => '---|').join('')}`,
      ...shown.map(r => {
        const cells = ids
          .map(id => r.tasksRun.find(t => t.id === id))
          .map(t => (t ? `${t.solved ? '✓' : '✗'}${t.grounded === false ? '†' : ''}${t.sentBack ? '↺' : ''} ${t.seconds.toFixed(0)} / ${t.hostCpuSeconds?.toFixed(0) ?? '–'}` : '–'));
        return `| ${r.model} · ${r.prompt} | ${cells.join(' | ')} |`;
      })
    ];
  };
  return [
    '## Starter model',
    '',
    `Written by \`npm run bench:starter\` on ${date.slice(0, 10)} (${os.cpus().length} cores). Two sets of data questions about CSV`,
    'files the bench writes, each a real episode: agent loop, `datarus serve` host, a fresh ipykernel per question.',
    '**Original ten** (sum, group-by maximum, mean, count, maximum, filter, date range, join, most frequent value, mean',
    'of another file): each question names the columns it needs. **User-phrased** (`u-…`): asked as a user would, without',
    'column names, about a shop export whose revenue must be computed as units × unit price (`u-top-region` needs the',
    'region and its revenue). Each episode gets what Analyze gives the model: the columns, dtypes and row count of the data',
    'files the question names, read through the kernel. Solved means the final answer gives the known value, and at least',
    `one step ran without error (a right value guessed without running code does not count). Analyze's defaults (temperature ${TEMPERATURE},`,
    `no grammar), at most ${MAX_STEPS} steps, and a budget of ${cpuBudgetSeconds} CPU seconds of the host process per question (wall time would`,
    'measure the neighbours). An answer stating a value no cell printed is sent back once (the answer-grounding check of the',
    'agent loop); a second one is accepted and marked not grounded.',
    "**The machine was shared with other developers' builds, tests and models during the run: wall times are inflated",
    "by an unknown factor; the load average (1 min, 2 cores) is in the table. The host's CPU seconds per episode do not",
    'depend on the load: divided by the threads the host chose, they estimate the wall time on an idle machine.**',
    '',
    '| model | prompt | `starter.tasks_solved`, original (goal ≥ 6/10) | `starter.user_tasks_solved`, user-phrased | median episode, wall (goal ≤ 90 s) | median host CPU per episode | host threads | load avg mean / max |',
    '|---|---|---|---|---|---|---|---|',
    ...runs.map(
      r =>
        `| ${r.model} | ${r.prompt} | ${r.tasks ? `${r['starter.tasks_solved']}/${r.tasks}` : 'not run'} | ${r.userTasks ? `${r['starter.user_tasks_solved']}/${r.userTasks}` : 'not run'} | ` +
        `${r.medianEpisodeSeconds.toFixed(1)} s | ${r.medianHostCpuSeconds?.toFixed(1) ?? '–'} s | ${r.threads} | ` +
        `${r.loadAverage.mean.toFixed(1)} / ${r.loadAverage.max.toFixed(1)} |`
    ),
    '',
    'Prompts: `compact`, `generic` and `datarus-r1` are the profiles in `src/protocol/profiles.ts`; `old-default` is the',
    "loop's system prompt before profiles existed (with placeholder text such as \"python code to run in the notebook's",
    'kernel"); `compact-v2` is the earlier wording of `compact`, whose turn after a step said to answer as soon as an',
    'output did (the 1.5B model then answered from the five rows of `df.head()`); `compact-v3` is the wording after it,',
    'whose worked example printed `df.head()` first and computed in a second step (the 1.5B model still answered after',
    'the first step, from the five rows); `compact-v4` is the wording before the answer-grounding check, whose one-step',
    'worked example computed the answer right after printing the columns (about a city, "Lisbon", which the model once',
    'copied into an unrelated answer), measured without the data-file context and the column hints; `compact-v5` is',
    'the wording with the grounding check, the data-file context and the column hints but before its rule to add a',
    'quantity that is not a column as a new column first, and before a repeat of code that had just raised an error',
    'was told so (in its three misses the model wrote `df.groupby(…)[col] * df[col2]` or a NameError, then the same',
    'code again); `compact-v6` is the wording of `compact` before the grounding check stopped counting numbers in',
    "tracebacks as printed (its `join` answer, 120.0, was a number from an IndexingError's traceback). The `compact`",
    "run is the first with the host's warm start (the system prompt's state is evaluated once and reused by each",
    "episode), which is the likely reason its host CPU per episode is about half of the runs before it. A run of",
    'fewer questions than the set is one the time available did not let finish. The two `@12-03` rows measure the',
    "worked example alone (issue 20), on the user-phrased questions, one run each, the host at `--threads 1`:",
    '`compact@12-03` is `compact` as of 2026-12-03 (its example names no file and no column: the file found by',
    '`glob("*.csv")`, a question about the data as a whole), `compact-old-example@12-03` the same prompt with the',
    "worked example before that change swapped back in (it read `example.csv` and indexed a `score` column). The",
    'load was 3 to 23 on 2 cores during both, so their wall times say little; the host CPU seconds do. In',
    "`compact@12-03`'s `u-top-region` and `u-west-units` the model copied the example's `sorted(glob.glob(\"*.csv\"))[0]`,",
    "which read the folder's first file, `customers.csv`, instead of the `store_sales.csv` the question names: the new",
    'example still leaves a line to copy, harmless beside one data file (the newcomer replay), wrong beside several.',
    '',
    'Per question (✓ solved, † answer not grounded, ↺ an answer was sent back once; wall seconds / host CPU seconds), original ten:',
    '',
    ...perQuestion('original', runs.filter(r => r.tasks > 0)),
    '',
    ...(userRuns.length ? ['User-phrased questions:', '', ...perQuestion('user', userRuns), ''] : [])
  ];
}

function option(name: string, fallback: string): string[] {
  const at = process.argv.indexOf(`--${name}`);
  return (at >= 0 ? process.argv[at + 1] : fallback).split(',').filter(Boolean);
}

async function main(): Promise<void> {
  const models = option('models', 'qwen2.5-coder-1.5b,qwen2.5-coder-0.5b');
  if (process.argv.includes('--report')) {
    // Rewrites the section from benchmarks/results.json (after runs were merged or relabelled by hand).
    writeResults([]);
    return;
  }
  const prompts = option('prompts', 'compact,generic');
  for (const prompt of prompts) {
    if (!profileNames().includes(prompt)) {
      throw new Error(`unknown prompt profile ${prompt}: one of ${profileNames().join(', ')}`);
    }
  }
  const only = option('tasks', '');
  cpuBudgetSeconds = Number(option('budget', String(cpuBudgetSeconds))[0]);
  hostThreads = option('threads', '')[0] ?? null;
  const data = makeStarterData();
  const tasks = only.length ? data.tasks.filter(t => only.includes(t.id)) : data.tasks;
  const root = mkdtempSync(path.join(os.tmpdir(), 'datarus-starter-'));
  for (const [name, text] of Object.entries(data.files)) {
    writeFileSync(path.join(root, name), text);
  }
  const jupyter = await startJupyter(root);
  try {
    for (const model of models) {
      // Results are written after every run, so a long benchmark cut short keeps what it measured.
      await runModel(model, prompts, tasks, jupyter, run => writeResults([run]));
    }
  } finally {
    await stop(jupyter);
    rmSync(root, { recursive: true, force: true });
  }
}

function writeResults(measured: RunResult[]): void {
  const earlier = (readResults().starter as { runs?: RunResult[] } | undefined)?.runs ?? [];
  // Questions measured again replace the earlier answers to them (per model and prompt), so separate
  // invocations with different --tasks add up to one run, and runs of other models and prompts stay.
  const key = (r: RunResult) => `${r.model}\u0000${r.prompt}`;
  const merged = new Map<string, RunResult>();
  for (const run of [...earlier, ...measured]) {
    const before = merged.get(key(run));
    const ids = new Set(run.tasksRun.map(t => t.id));
    merged.set(key(run), summarize(before ? { ...run, tasksRun: [...before.tasksRun.filter(t => !ids.has(t.id)), ...run.tasksRun] } : run));
  }
  const runs = [...merged.values()];
  const date = new Date().toISOString();
  const markdown = markdownSection(runs, date).join('\n');
  writePart('starter', { date, temperature: TEMPERATURE, maxSteps: MAX_STEPS, cpuBudgetSeconds, runs }, markdown);
  process.stdout.write(markdown + '\n');
}

if (require.main === module) {
  main().catch(err => {
    process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
    process.exit(1);
  });
}
