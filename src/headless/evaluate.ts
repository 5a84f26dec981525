/**
 * `datarus eval TASKS.jsonl [--labels LABELS.jsonl]`: each InfiAgent-DABench
 * task in a kernel of its own with its data file, N at once; the `@name[value]`
 * answers are scored as the benchmark scores them (dabench.ts). Every finished
 * task is one complete line of `<out>/results.jsonl`, so an interrupted run
 * resumes where it stopped: a rerun skips the tasks that have a result, and
 * runs again those that failed for reasons of the machinery (no kernel, a
 * model server gone), not of the model. `summary.json` and `summary.md` are
 * written from the results at the end of every run.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { accuracy, Accuracy, DabenchLabel, DabenchTask, parseLabels, parseTasks, scoreTask, taskPrompt } from './dabench';
import { runEpisode } from './episode';
import { appendJsonLine, readJsonLines } from '../host/jsonl';
import type { KernelPool } from './kernels';
import type { ModelBackend } from './models';
import { episodeProgress, oneLine, Write } from './progress';
import {
  headlessContext,
  eachParallel,
  GrammarFor,
  HeadlessOptions,
  interruptible,
  limitsFrom,
  loadGrammars,
  logEpisode,
  openLog,
  startBoth,
  taskDataFiles,
  UsageError,
  writeWhole
} from './setup';
import { Redactor, secretEnvValues } from '../episode/redact';
import type { EpisodeStore } from '../host/episodeStore';

export interface EvalOptions extends HeadlessOptions {
  labels?: string;
  dataDir?: string;
  parallel: number;
  out: string;
  quiet?: boolean;
}

/** One line of results.jsonl. */
export interface TaskResult {
  id: string;
  level: string | null;
  /** `answered`/`no_answer`: the model's outcome; `error`: the machinery failed (retried by a rerun). */
  outcome: 'answered' | 'no_answer' | 'error';
  status: string | null;
  reason: string | null;
  answer: string | null;
  predicted: Record<string, string>;
  correctness: Record<string, boolean> | null;
  correct: boolean | null;
  fraction: number | null;
  steps: number;
  completionTokens: number;
  errorsRecovered: number;
  wallSeconds: number;
  episodeId: string | null;
  finishedAt: string;
}

export interface EvalSummary {
  tasks: number;
  finished: number;
  answered: number;
  errors: number;
  /** The benchmark's three accuracies over the labelled tasks that finished; null without labels. */
  accuracy: Accuracy | null;
  meanSteps: number;
  meanCompletionTokens: number;
  errorsRecovered: number;
  /** Sum of the tasks' wall times, and the wall time of this run. */
  taskSeconds: number;
  runSeconds: number;
  results: TaskResult[];
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(err as Error).message}`);
  }
}

export async function loadTaskFiles(tasksFile: string, labelsFile?: string): Promise<{ tasks: DabenchTask[]; labels: Map<string, DabenchLabel> | null }> {
  const tasks = parseTasks(await readText(tasksFile, 'tasks file'), tasksFile);
  const labels = labelsFile ? parseLabels(await readText(labelsFile, 'labels file'), labelsFile) : null;
  return { tasks, labels };
}

/** The latest result of each task; rows of tasks not in the list are ignored. */
export function latestResults(rows: TaskResult[], tasks: DabenchTask[]): Map<string, TaskResult> {
  const ids = new Set(tasks.map(t => t.id));
  const latest = new Map<string, TaskResult>();
  for (const row of rows) {
    if (row && typeof row.id === 'string' && ids.has(row.id)) {
      latest.set(row.id, row);
    }
  }
  return latest;
}

export function summarize(tasks: DabenchTask[], results: Map<string, TaskResult>, labels: Map<string, DabenchLabel> | null, runSeconds: number): EvalSummary {
  const rows = tasks.map(t => results.get(t.id)).filter((r): r is TaskResult => r !== undefined);
  const finished = rows.filter(r => r.outcome !== 'error');
  const scored = labels
    ? finished
        .filter(r => labels.has(r.id))
        .map(r => ({ correctness: r.correctness ?? {}, fraction: r.fraction ?? 0, correct: r.correct === true, predicted: r.predicted }))
    : null;
  const mean = (f: (r: TaskResult) => number) => (finished.length ? finished.reduce((n, r) => n + f(r), 0) / finished.length : 0);
  return {
    tasks: tasks.length,
    finished: finished.length,
    answered: finished.filter(r => r.outcome === 'answered').length,
    errors: rows.length - finished.length,
    accuracy: scored ? accuracy(scored) : null,
    meanSteps: mean(r => r.steps),
    meanCompletionTokens: mean(r => r.completionTokens),
    errorsRecovered: finished.reduce((n, r) => n + r.errorsRecovered, 0),
    taskSeconds: rows.reduce((n, r) => n + r.wallSeconds, 0),
    runSeconds,
    results: rows
  };
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export function summaryMarkdown(summary: EvalSummary): string {
  const lines = ['| task | level | outcome | correct | sub-answers right | steps | tokens | errors recovered | seconds |', '|---|---|---|---|---|---|---|---|---|'];
  for (const r of summary.results) {
    const subs = r.correctness ? `${Object.values(r.correctness).filter(Boolean).length}/${Object.keys(r.correctness).length}` : '';
    const outcome = r.outcome === 'answered' ? 'answered' : `${r.outcome}${r.reason ? `: ${oneLine(r.reason, 60).replace(/\|/g, '\\|')}` : ''}`;
    lines.push(`| ${r.id} | ${r.level ?? ''} | ${outcome} | ${r.correct === null ? '' : r.correct ? 'yes' : 'no'} | ${subs} | ${r.steps} | ${r.completionTokens} | ${r.errorsRecovered} | ${r.wallSeconds.toFixed(1)} |`);
  }
  const a = summary.accuracy;
  lines.push(
    '',
    '| overall | |',
    '|---|---|',
    `| tasks finished / in the file | ${summary.finished} / ${summary.tasks}${summary.errors ? ` (${summary.errors} failed to run: rerun to retry them)` : ''} |`,
    `| answered | ${summary.answered} |`,
    ...(a
      ? [
          `| accuracy by question | ${pct(a.byQuestion)} (${a.questions} labelled) |`,
          `| accuracy by sub-question | ${pct(a.bySubQuestion)} |`,
          `| proportional accuracy by sub-question | ${pct(a.proportional)} |`
        ]
      : ['| accuracy | no labels given |']),
    `| mean steps | ${summary.meanSteps.toFixed(2)} |`,
    `| mean tokens per solution | ${summary.meanCompletionTokens.toFixed(1)} |`,
    `| errors recovered | ${summary.errorsRecovered} |`,
    `| wall time | ${summary.runSeconds.toFixed(1)} s this run; ${summary.taskSeconds.toFixed(1)} s summed over tasks |`
  );
  return lines.join('\n') + '\n';
}

interface TaskContext {
  backend: ModelBackend;
  kernels: KernelPool;
  store: EpisodeStore | null;
  grammars: GrammarFor;
  opts: EvalOptions;
  dataDir: string;
  signal: AbortSignal;
  write: Write;
}

/** Runs one task; null when it was interrupted (no row: the rerun does it again). */
async function runTask(task: DabenchTask, label: DabenchLabel | undefined, ctx: TaskContext): Promise<TaskResult | null> {
  const started = Date.now();
  const machineryFailed = (reason: string): TaskResult => ({ ...blankResult(task), reason, wallSeconds: (Date.now() - started) / 1000 });
  let files;
  try {
    files = await taskDataFiles(task.file_name, ctx.dataDir);
  } catch (err) {
    return machineryFailed((err as Error).message);
  }
  let lease;
  try {
    lease = await ctx.kernels.open(`task-${task.id}`, files);
  } catch (err) {
    return machineryFailed((err as Error).message);
  }
  const progress = episodeProgress(ctx.opts.quiet ? () => undefined : ctx.write, `task ${task.id}`);
  let run;
  try {
    run = await runEpisode(ctx.backend.model, lease.runner, {
      episodeId: randomUUID(),
      question: taskPrompt(task),
      context: await headlessContext(taskPrompt(task), lease.runner),
      profile: ctx.opts.profile ?? ctx.backend.profile,
      limits: limitsFrom(ctx.opts),
      temperature: ctx.opts.temperature,
      grammar: ctx.grammars(task.id),
      signal: ctx.signal,
      hooks: progress.hooks,
      onTurn: progress.onTurn
    });
  } finally {
    await lease.dispose();
  }
  const { episode, figures } = run;
  if (episode.status === 'stopped' && ctx.signal.aborted) {
    return null;
  }
  await logEpisode(ctx.store, episode, ctx.write);
  if (figures.backendError) {
    return { ...machineryFailed(`the model side failed: ${figures.backendError}`), steps: figures.steps, episodeId: episode.id };
  }
  const answer = episode.answer?.text ?? null;
  const score = label ? scoreTask(answer, label) : null;
  return {
    ...blankResult(task),
    outcome: answer !== null ? 'answered' : 'no_answer',
    status: episode.status,
    reason: episode.reason ?? null,
    answer,
    predicted: score?.predicted ?? {},
    correctness: score?.correctness ?? null,
    correct: score ? score.correct : null,
    fraction: score ? score.fraction : null,
    steps: figures.steps,
    completionTokens: figures.completionTokens,
    errorsRecovered: figures.errorsRecovered,
    wallSeconds: figures.wallSeconds,
    episodeId: episode.id,
    finishedAt: new Date().toISOString()
  };
}

export async function evalCommand(tasksFile: string, opts: EvalOptions, write: Write): Promise<EvalSummary> {
  const started = Date.now();
  const { tasks, labels } = await loadTaskFiles(tasksFile, opts.labels);
  const dataDir = path.resolve(opts.dataDir ?? path.dirname(tasksFile));
  const out = path.resolve(opts.out);
  const resultsFile = path.join(out, 'results.jsonl');
  const previous = latestResults(
    await readJsonLines<TaskResult>(resultsFile, (line, reason) => write(`note: ${resultsFile} line ${line} skipped: ${reason}`)),
    tasks
  );
  // Tasks without a result, and those the machinery failed (no kernel, a server gone): the model's own outcomes stand.
  const todo = tasks.filter(t => (previous.get(t.id)?.outcome ?? 'error') === 'error');
  if (previous.size > 0) {
    write(`resuming: ${tasks.length - todo.length} of ${tasks.length} tasks already have a result in ${resultsFile}`);
  }
  const results = new Map(previous);
  if (todo.length > 0) {
    const grammars = await loadGrammars(opts.grammar);
    const store = await openLog(opts);
    const ctrlC = interruptible(write);
    const { backend, kernels } = await startBoth(opts, opts.parallel, write);
    write(`model: ${backend.describe}; kernels: ${kernels.urls.join(', ')}; ${todo.length} task(s), ${opts.parallel} at once`);
    const redactor = new Redactor(secretEnvValues(process.env));
    const ctx: TaskContext = { backend, kernels, store, grammars, opts, dataDir, signal: ctrlC.signal, write };
    try {
      await eachParallel(todo, opts.parallel, ctrlC.interrupted, async task => {
        const result = await runTask(task, labels?.get(task.id), ctx).catch(
          (err: Error): TaskResult | null => (ctrlC.interrupted() ? null : { ...blankResult(task), reason: err.message })
        );
        if (!result) {
          return;
        }
        // The answer is the model's text: secrets it printed are redacted, as in the episode log.
        await appendJsonLine(resultsFile, redactor.value(result));
        results.set(task.id, result);
        const verdict = result.correct === null ? '' : result.correct ? ' · right' : ' · wrong';
        write(`task ${task.id}: ${result.outcome}${result.outcome === 'error' ? ` (${result.reason})` : ''}${verdict} · ${result.steps} steps · ${result.wallSeconds.toFixed(1)} s`);
      });
    } finally {
      ctrlC.release();
      await kernels.close();
      await backend.close();
    }
    if (ctrlC.interrupted()) {
      write(`interrupted: ${results.size} of ${tasks.length} tasks have a result; run the same command again to resume`);
      process.exitCode = 130;
    }
  }
  const summary = summarize(tasks, results, labels, (Date.now() - started) / 1000);
  const markdown = summaryMarkdown(summary);
  await writeWhole(path.join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  await writeWhole(path.join(out, 'summary.md'), markdown);
  process.stdout.write(markdown);
  return summary;
}

/** A task's result with nothing in it yet: a failure of the machinery unless filled in. */
function blankResult(task: DabenchTask): TaskResult {
  return {
    id: task.id,
    level: task.level ?? null,
    outcome: 'error',
    status: null,
    reason: null,
    answer: null,
    predicted: {},
    correctness: null,
    correct: null,
    fraction: null,
    steps: 0,
    completionTokens: 0,
    errorsRecovered: 0,
    wallSeconds: 0,
    episodeId: null,
    finishedAt: new Date().toISOString()
  };
}
