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

import { accuracy, Accuracy, DabenchLabel, DabenchTask, extractAnswers, parseLabels, parseTasks, scoreTask, taskPrompt } from './dabench';
import { deliveredAnswer } from '../episode/answer';
import { parseAnswerForm } from '../protocol';
import { EpisodeFigures, runEpisode } from './episode';
import type { Episode } from '../episode/types';
import { appendJsonLine, readJsonLines } from '../host/episodes/jsonl';
import type { DataFile, KernelPool } from './kernels';
import type { ModelBackend } from './models';
import { episodeProgress, oneLine, Write } from './progress';
import { headlessContext } from './context';
import { taskDataFiles } from './dataFiles';
import { logEpisode, openLog } from './episodeLog';
import { GrammarFor, loadGrammars } from './grammars';
import { interruptible } from './interrupt';
import { HeadlessOptions, limitsFrom } from './options';
import { eachParallel } from './parallel';
import { startBoth } from './start';
import { UsageError } from './usageError';
import { writeWhole } from './writeWhole';
import { Redactor, secretEnvValues } from '../episode/redact';
import type { EpisodeStore } from '../host/episodes/episodeStore';

export interface EvalOptions extends HeadlessOptions {
  labels?: string;
  dataDir?: string;
  parallel: number;
  /** Episodes per task; the answer most of them give counts (default 1: no vote). */
  votes?: number;
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
  /** The answer delivered (the model's, with the fixes of the asked form applied). */
  answer: string | null;
  /** What was brought into the asked form without the model (rounding as asked); empty when nothing. */
  fixes: string[];
  /** The loop asked for the answer because the episode would have ended without one (why). */
  answerRequested: string | null;
  /** With `--votes N`: every episode's delivered answer, and how many agreed with the one that counts. */
  votes?: { answers: (string | null)[]; agreeing: number };
  /** The task's concepts (the benchmark's breakdown). */
  concepts: string[];
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

/** Accuracy by question within one group of tasks (a level, a concept). */
export interface GroupAccuracy {
  questions: number;
  right: number;
  accuracy: number;
}

/** Accuracy by question for each group the tasks belong to (a task with two concepts counts in both), groups sorted by name. */
export function breakdown(tasks: DabenchTask[], finished: TaskResult[], groupsOf: (task: DabenchTask) => string[]): Record<string, GroupAccuracy> {
  const byId = new Map(tasks.map(t => [t.id, t]));
  const groups = new Map<string, { questions: number; right: number }>();
  for (const r of finished) {
    const task = byId.get(r.id);
    for (const group of task ? groupsOf(task) : []) {
      const g = groups.get(group) ?? { questions: 0, right: 0 };
      g.questions++;
      g.right += r.correct === true ? 1 : 0;
      groups.set(group, g);
    }
  }
  return Object.fromEntries([...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, g]) => [k, { ...g, accuracy: g.right / g.questions }]));
}

export interface EvalSummary {
  tasks: number;
  finished: number;
  answered: number;
  errors: number;
  /** The benchmark's three accuracies over the labelled tasks that finished; null without labels. */
  accuracy: Accuracy | null;
  /** The benchmark's breakdowns of accuracy by question; null without labels. */
  byLevel: Record<string, GroupAccuracy> | null;
  byConcept: Record<string, GroupAccuracy> | null;
  /** Share of the finished tasks that ended without an answer. */
  noAnswerShare: number;
  /** Completion tokens of every finished task (every vote) per right answer; null without labels or right answers. */
  tokensPerRightAnswer: number | null;
  medianSeconds: number;
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
  const right = finished.filter(r => r.correct === true).length;
  const seconds = finished.map(r => r.wallSeconds).sort((a, b) => a - b);
  return {
    tasks: tasks.length,
    finished: finished.length,
    answered: finished.filter(r => r.outcome === 'answered').length,
    errors: rows.length - finished.length,
    accuracy: scored ? accuracy(scored) : null,
    byLevel: labels ? breakdown(tasks, finished, t => (t.level ? [t.level] : [])) : null,
    byConcept: labels ? breakdown(tasks, finished, t => (Array.isArray(t.concepts) ? t.concepts.filter((c): c is string => typeof c === 'string') : [])) : null,
    noAnswerShare: finished.length ? finished.filter(r => r.outcome === 'no_answer').length / finished.length : 0,
    tokensPerRightAnswer: labels && right > 0 ? finished.reduce((n, r) => n + r.completionTokens, 0) / right : null,
    medianSeconds: seconds.length ? (seconds[(seconds.length - 1) >> 1] + seconds[seconds.length >> 1]) / 2 : 0,
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
    `| no answer | ${pct(summary.noAnswerShare)} |`,
    ...(summary.tokensPerRightAnswer !== null ? [`| tokens per right answer | ${summary.tokensPerRightAnswer.toFixed(0)} |`] : []),
    `| median seconds per task | ${summary.medianSeconds.toFixed(1)} |`,
    `| mean steps | ${summary.meanSteps.toFixed(2)} |`,
    `| mean tokens per solution | ${summary.meanCompletionTokens.toFixed(1)} |`,
    `| errors recovered | ${summary.errorsRecovered} |`,
    `| wall time | ${summary.runSeconds.toFixed(1)} s this run; ${summary.taskSeconds.toFixed(1)} s summed over tasks |`
  );
  for (const [title, groups] of [
    ['level', summary.byLevel],
    ['concept', summary.byConcept]
  ] as const) {
    if (groups && Object.keys(groups).length > 0) {
      lines.push('', `| ${title} | questions | right | accuracy by question |`, '|---|---|---|---|');
      for (const [name, g] of Object.entries(groups)) {
        lines.push(`| ${name.replace(/\|/g, '\\|')} | ${g.questions} | ${g.right} | ${pct(g.accuracy)} |`);
      }
    }
  }
  if (summary.byConcept && Object.keys(summary.byConcept).length > 0) {
    lines.push('', `![accuracy by concept](${CONCEPT_CHART})`);
  }
  return lines.join('\n') + '\n';
}

/** The chart beside summary.md. */
export const CONCEPT_CHART = 'accuracy-by-concept.svg';

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A horizontal bar chart of accuracy by question for each group, as a standalone SVG. */
export function accuracyChart(groups: Record<string, GroupAccuracy>, title: string): string {
  const rows = Object.entries(groups);
  const label = 260;
  const bar = 360;
  const height = 24;
  const top = 40;
  const total = top + rows.length * height + 30;
  const parts = rows.map(([name, g], i) => {
    const y = top + i * height;
    const w = Math.round(g.accuracy * bar);
    return (
      `<text x="${label - 8}" y="${y + 16}" text-anchor="end">${escapeXml(name)}</text>` +
      `<rect x="${label}" y="${y + 4}" width="${w}" height="${height - 8}" fill="#4c78a8"/>` +
      `<text x="${label + w + 6}" y="${y + 16}">${(100 * g.accuracy).toFixed(0)}% (${g.right}/${g.questions})</text>`
    );
  });
  const axis = [0, 0.25, 0.5, 0.75, 1]
    .map(t => `<line x1="${label + t * bar}" y1="${top}" x2="${label + t * bar}" y2="${total - 26}" stroke="#ccc"/><text x="${label + t * bar}" y="${total - 10}" text-anchor="middle">${t * 100}%</text>`)
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${label + bar + 110}" height="${total}" font-family="sans-serif" font-size="12">` +
    `<rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>${axis}${parts.join('')}</svg>\n`
  );
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

/** One episode of a task in a kernel of its own; null when interrupted. */
async function runOnce(task: DabenchTask, files: DataFile[], ctx: TaskContext, vote: number): Promise<{ episode: Episode; figures: EpisodeFigures } | { failed: string } | null> {
  const votes = ctx.opts.votes ?? 1;
  const name = votes > 1 ? `task ${task.id} #${vote + 1}` : `task ${task.id}`;
  let lease;
  try {
    lease = await ctx.kernels.open(votes > 1 ? `task-${task.id}-${vote}` : `task-${task.id}`, files);
  } catch (err) {
    return { failed: (err as Error).message };
  }
  const progress = episodeProgress(ctx.opts.quiet ? () => undefined : ctx.write, name);
  let run;
  try {
    run = await runEpisode(ctx.backend.model, lease.runner, {
      episodeId: randomUUID(),
      question: taskPrompt(task),
      context: await headlessContext(taskPrompt(task), lease.runner),
      answerForm: parseAnswerForm(task.format, task.constraints),
      profile: ctx.opts.profile ?? ctx.backend.profile,
      limits: limitsFrom(ctx.opts),
      temperature: ctx.opts.temperature,
      grammar: ctx.grammars(task.id),
      signal: ctx.signal,
      hooks: progress.hooks,
      onTurn: progress.onTurn,
      approve: ctx.opts.approve
    });
  } finally {
    await lease.dispose();
  }
  if (run.episode.status === 'stopped' && ctx.signal.aborted) {
    return null;
  }
  await logEpisode(ctx.store, run.episode, ctx.write);
  if (run.figures.backendError) {
    return { failed: `the model side failed: ${run.figures.backendError}` };
  }
  return run;
}

/**
 * The answer most episodes agree on, by the `@name[value]` entries they give
 * (the whole text when they give none); ties go to the earliest. -1 when none answered.
 */
export function majority(answers: (string | null)[]): { chosen: number; agreeing: number } {
  const keyOf = (answer: string) => {
    const entries = Object.entries(extractAnswers(answer)).sort(([a], [b]) => a.localeCompare(b));
    return entries.length ? JSON.stringify(entries) : answer.trim();
  };
  const counts = new Map<string, { first: number; count: number }>();
  answers.forEach((answer, i) => {
    if (answer === null) {
      return;
    }
    const key = keyOf(answer);
    const seen = counts.get(key);
    counts.set(key, seen ? { ...seen, count: seen.count + 1 } : { first: i, count: 1 });
  });
  let best = { first: -1, count: 0 };
  for (const entry of counts.values()) {
    if (entry.count > best.count) {
      best = entry;
    }
  }
  return { chosen: best.first, agreeing: best.count };
}

/** Runs one task (`--votes` episodes of it, the answer most agree on counting); null when interrupted (the rerun does it again). */
async function runTask(task: DabenchTask, label: DabenchLabel | undefined, ctx: TaskContext): Promise<TaskResult | null> {
  const started = Date.now();
  const votes = ctx.opts.votes ?? 1;
  const machineryFailed = (reason: string): TaskResult => ({ ...blankResult(task), reason, wallSeconds: (Date.now() - started) / 1000 });
  let files: DataFile[];
  try {
    files = await taskDataFiles(task.file_name, ctx.dataDir);
  } catch (err) {
    return machineryFailed((err as Error).message);
  }
  // The votes run side by side: the host evaluates their shared prompt once and decodes them in one batch.
  const runs = await Promise.all(Array.from({ length: votes }, (_, vote) => runOnce(task, files, ctx, vote)));
  if (runs.some(r => r === null)) {
    return null;
  }
  const failed = runs.find((r): r is { failed: string } => r !== null && 'failed' in r);
  if (failed) {
    return machineryFailed(failed.failed);
  }
  const done = runs as { episode: Episode; figures: EpisodeFigures }[];
  const answers = done.map(r => deliveredAnswer(r.episode));
  const { chosen, agreeing } = majority(answers);
  const { episode } = done[Math.max(chosen, 0)];
  const answer = chosen >= 0 ? answers[chosen] : null;
  const score = label ? scoreTask(answer, label) : null;
  const sum = (f: (figures: EpisodeFigures) => number) => done.reduce((n, r) => n + f(r.figures), 0);
  return {
    ...blankResult(task),
    outcome: answer !== null ? 'answered' : 'no_answer',
    status: episode.status,
    reason: episode.reason ?? null,
    answer,
    fixes: (episode.answerForm?.fixes ?? []).map(f => `${f.name}: ${f.from} → ${f.to} (${f.why})`),
    answerRequested: episode.answerRequest?.reason ?? null,
    predicted: score?.predicted ?? {},
    correctness: score?.correctness ?? null,
    correct: score ? score.correct : null,
    fraction: score ? score.fraction : null,
    ...(votes > 1 ? { votes: { answers, agreeing } } : {}),
    steps: episode.steps.length,
    // Every vote's tokens count: they are what the answer cost.
    completionTokens: sum(f => f.completionTokens),
    errorsRecovered: sum(f => f.errorsRecovered),
    wallSeconds: (Date.now() - started) / 1000,
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
    const { backend, kernels } = await startBoth(opts, opts.parallel * (opts.votes ?? 1), write);
    write(`model: ${backend.describe}; kernels: ${kernels.urls.join(', ')}${kernels.networkNote ? ` (${kernels.networkNote})` : ''}; ${todo.length} task(s), ${opts.parallel} at once${(opts.votes ?? 1) > 1 ? `, ${opts.votes} votes each` : ''}`);
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
  if (summary.byConcept && Object.keys(summary.byConcept).length > 0) {
    await writeWhole(path.join(out, CONCEPT_CHART), accuracyChart(summary.byConcept, `Accuracy by concept (${summary.accuracy!.questions} questions)`));
  }
  process.stdout.write(markdown);
  return summary;
}

/** A task's result with nothing in it yet: a failure of the machinery unless filled in. */
function blankResult(task: DabenchTask): TaskResult {
  return {
    id: task.id,
    level: task.level ?? null,
    concepts: Array.isArray(task.concepts) ? task.concepts.filter((c): c is string => typeof c === 'string') : [],
    outcome: 'error',
    status: null,
    reason: null,
    answer: null,
    fixes: [],
    answerRequested: null,
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
