/**
 * `datarus rollouts TASKS.jsonl --group-size G`: G episodes per task for GRPO,
 * each in a kernel of its own, each scored, written as GRPO rows (the shape of
 * `datarus export --format grpo`, src/episode/export.ts) with the fields a
 * group needs added: `group_id`, `task_id`, `rollout`, the `completion` the
 * model wrote after the prompt, `reward` and its parts.
 *
 * The reward: the structural reward (src/protocol/reward.ts) alone, or, when
 * labels are given, `(1 − w)·structural + w·answer` with `answer` the share of
 * the task's `@name[value]` answers that are right (`--answer-weight`, w = 0.5).
 *
 * With `--judge`, each rollout is also scored by the judge (src/agent/judge.ts):
 * `reward_parts.hrm_step` and `hrm_episode` (null, with `judge.reason`, when the
 * judge gave no score; the row is written all the same). `reward` stays as above:
 * the curriculum that mixes in the judge's scores is applied when training, with
 * the trainer's step (`curriculumReward`, src/protocol/curriculum.ts).
 *
 * The G episodes of a task start from the same messages, and a group's
 * rollouts are sent together, so a host that keeps evaluated prompts can
 * evaluate that prompt once for the group. Rows are appended one complete line
 * at a time; a rerun skips the rollouts already written.
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';

import { fullConversation, conversation } from '../episode/conversation';
import { exportRows, taggedTranscript } from '../episode/export';
import { Redactor, secretEnvValues } from '../episode/redact';
import { deliveredAnswer } from '../episode/answer';
import type { Episode } from '../episode/types';
import { parseAnswerForm, scoreText } from '../protocol';
import { JudgeResult, judgeRowFields } from '../agent/judge';
import { DabenchLabel, DabenchTask, scoreTask, taskPrompt } from './dabench';
import { runEpisode } from './episode';
import { loadTaskFiles } from './evaluate';
import { appendJsonLine, readJsonLines } from '../host/episodes/jsonl';
import { Judge, JudgeCliOptions, judgeWanted, startJudge } from './judge';
import { episodeProgress, Write } from './progress';
import { headlessContext } from './context';
import { taskDataFiles } from './dataFiles';
import { logEpisode, openLog } from './episodeLog';
import { loadGrammars } from './grammars';
import { interruptible } from './interrupt';
import { HeadlessOptions, limitsFrom } from './options';
import { eachParallel } from './parallel';
import { startBoth } from './start';
import { UsageError } from './usageError';

export interface RolloutOptions extends HeadlessOptions, JudgeCliOptions {
  groupSize: number;
  labels?: string;
  dataDir?: string;
  parallel: number;
  out: string;
  answerWeight: number;
  quiet?: boolean;
}

export interface RewardParts {
  structural: number;
  /** The structural reward's own parts (well_formed, final_answer, …), `answer`, and the judge's (null when absent). */
  [part: string]: number | null;
}

/** The reward of one rollout and its parts. */
export function rolloutReward(episode: Episode, label: DabenchLabel | undefined, answerWeight: number) {
  const structural = scoreText(taggedTranscript(episode), { harnessObservations: true });
  const parts: RewardParts = { structural: structural.score, ...structural.parts };
  if (!label) {
    return { reward: structural.score, parts, answer: null };
  }
  const answer = scoreTask(deliveredAnswer(episode), label);
  parts.answer = answer.fraction;
  const reward = Math.round(((1 - answerWeight) * structural.score + answerWeight * answer.fraction) * 1e6) / 1e6;
  return { reward, parts, answer };
}

/** One GRPO row: the export's row for the episode, plus the group, the completion and the reward. */
export function rolloutRow(
  episode: Episode,
  task: DabenchTask,
  rollout: number,
  groupSize: number,
  label: DabenchLabel | undefined,
  answerWeight: number,
  judged?: JudgeResult
): object {
  const [row] = exportRows([{ episode, feedback: [], edits: [] }], 'grpo') as Record<string, unknown>[];
  const prompt = conversation(episode, 0);
  const { reward, parts, answer } = rolloutReward(episode, label, answerWeight);
  const judgeFields = judged ? judgeRowFields(judged) : null;
  if (judgeFields) {
    Object.assign(parts, judgeFields.parts);
  }
  return {
    ...row,
    group_id: `task-${task.id}`,
    task_id: task.id,
    rollout,
    group_size: groupSize,
    level: task.level ?? null,
    completion: fullConversation(episode).slice(prompt.length),
    reward,
    reward_parts: parts,
    answer_correct: answer ? answer.correct : null,
    predicted_answers: answer ? answer.predicted : null,
    label_answers: label ? Object.fromEntries(label.common_answers) : null,
    steps: episode.steps.length,
    stop_reason: episode.reason ?? null,
    ...(judgeFields ? { judge: judgeFields.judge } : {})
  };
}

interface Job {
  task: DabenchTask;
  rollout: number;
}

export async function rolloutsCommand(tasksFile: string, opts: RolloutOptions, write: Write): Promise<{ written: number; skipped: number }> {
  if (!(opts.answerWeight >= 0 && opts.answerWeight <= 1)) {
    throw new UsageError('--answer-weight must be between 0 and 1');
  }
  const { tasks, labels } = await loadTaskFiles(tasksFile, opts.labels);
  const dataDir = path.resolve(opts.dataDir ?? path.dirname(tasksFile));
  const out = path.resolve(opts.out);
  const done = new Set(
    (await readJsonLines<{ task_id?: string; rollout?: number }>(out, (line, reason) => write(`note: ${out} line ${line} skipped: ${reason}`))).map(
      r => `${r.task_id}\u0000${r.rollout}`
    )
  );
  const jobs: Job[] = [];
  for (const task of tasks) {
    for (let rollout = 0; rollout < opts.groupSize; rollout++) {
      if (!done.has(`${task.id}\u0000${rollout}`)) {
        jobs.push({ task, rollout });
      }
    }
  }
  const skipped = tasks.length * opts.groupSize - jobs.length;
  if (skipped > 0) {
    write(`resuming: ${skipped} rollout(s) already in ${out}`);
  }
  if (jobs.length === 0) {
    return { written: 0, skipped };
  }
  const grammars = await loadGrammars(opts.grammar);
  const store = await openLog(opts);
  const redactor = new Redactor(secretEnvValues(process.env));
  const ctrlC = interruptible(write);
  const { backend, kernels } = await startBoth(opts, opts.parallel, write);
  let judge: Judge | null = null;
  if (judgeWanted(opts)) {
    try {
      judge = await startJudge(opts, write, backend);
    } catch (err) {
      await kernels.close();
      await backend.close();
      ctrlC.release();
      throw err;
    }
  }
  write(`model: ${backend.describe}; ${jobs.length} rollout(s), ${opts.parallel} at once${kernels.networkNote ? `; ${kernels.networkNote}` : ''}`);
  let written = 0;
  const failures: string[] = [];
  try {
    await eachParallel(jobs, opts.parallel, ctrlC.interrupted, async ({ task, rollout }) => {
      const name = `task ${task.id} #${rollout + 1}`;
      try {
        const files = await taskDataFiles(task.file_name, dataDir);
        const lease = await kernels.open(`task-${task.id}-${rollout}`, files);
        const progress = episodeProgress(opts.quiet ? () => undefined : write, name);
        let run;
        try {
          run = await runEpisode(backend.model, lease.runner, {
            episodeId: randomUUID(),
            question: taskPrompt(task),
            context: await headlessContext(taskPrompt(task), lease.runner),
            answerForm: parseAnswerForm(task.format, task.constraints),
            profile: opts.profile ?? backend.profile,
            limits: limitsFrom(opts),
            temperature: opts.temperature ?? 1,
            grammar: grammars(task.id),
            signal: ctrlC.signal,
            hooks: progress.hooks,
            onTurn: progress.onTurn,
            approve: opts.approve
          });
        } finally {
          await lease.dispose();
        }
        if (ctrlC.interrupted() && run.episode.status === 'stopped') {
          return;
        }
        await logEpisode(store, run.episode, write);
        if (run.figures.backendError) {
          throw new Error(`the model side failed: ${run.figures.backendError}`);
        }
        const judged = judge ? await judge.judge(run.episode, ctrlC.signal) : undefined;
        if (ctrlC.interrupted() && judged && !judged.verdict) {
          return; // stopped while judging: a rerun runs it again, judged
        }
        const row = rolloutRow(run.episode, task, rollout, opts.groupSize, labels?.get(task.id), opts.answerWeight, judged);
        // Training data never carries secrets: every string of the row is redacted, as `datarus export` does.
        await appendJsonLine(out, redactor.value(row));
        written++;
        const judgedText = !judged ? '' : judged.verdict ? ` · hrm_step ${judged.verdict.hrm_step?.toFixed(3) ?? '—'} · hrm_episode ${judged.verdict.hrm_episode.toFixed(3)}` : ` · no judge score (${judged.reason})`;
        write(`${name}: ${run.episode.status} · reward ${(row as { reward: number }).reward.toFixed(3)}${judgedText}`);
      } catch (err) {
        if (!ctrlC.interrupted()) {
          failures.push(`${name}: ${(err as Error).message}`);
          write(`${name}: not written (${(err as Error).message}); a rerun tries it again`);
        }
      }
    });
  } finally {
    ctrlC.release();
    await judge?.close();
    await kernels.close();
    await backend.close();
  }
  write(`${written} row(s) written to ${out}${failures.length ? `; ${failures.length} rollout(s) failed to run` : ''}`);
  if (ctrlC.interrupted()) {
    write('interrupted: run the same command again to resume');
    process.exitCode = 130;
  } else if (failures.length) {
    process.exitCode = 1;
  }
  return { written, skipped };
}
