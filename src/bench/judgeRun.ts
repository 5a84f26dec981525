/**
 * `npm run bench:judge -- --dir DIR [-- TASKS.jsonl --group-size G --labels L --judge …]`:
 * how good the judge is on judged rollouts with labels (src/bench/judgeStats.ts).
 * With arguments after `--`, first runs `datarus rollouts … --out DIR/rollouts.jsonl`
 * (resumable: a rerun finishes what is missing), sampling the load average into
 * DIR/load.jsonl every 10 s; then reads DIR/rollouts.jsonl and writes the `judge`
 * part of benchmarks/results.json and BENCHMARKS.md:
 *
 * - `judge.auc_right_answer`: ROC AUC of `hrm_episode` for a right answer;
 * - `judge.best_of_g_vs_mean`: accuracy of each group's highest-`hrm_episode`
 *   rollout against the group's mean accuracy (a random pick).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { bestOfG, GroupedOutcome, rocAuc } from './judgeStats';
import { writePart } from './report';

const ROOT = path.resolve(__dirname, '..', '..');

interface RolloutRow {
  group_id: string;
  task_id: string;
  model: string;
  answer_correct: boolean | null;
  structural_reward: number;
  reward_parts: { hrm_step?: number | null; hrm_episode?: number | null };
  judge?: { model?: string; rubric?: string; reason?: string };
}

function readJsonl<T>(file: string): T[] {
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(line => line.trim())
        .map(line => JSON.parse(line) as T)
    : [];
}

async function runRollouts(dir: string, args: string[]): Promise<void> {
  const loadFile = path.join(dir, 'load.jsonl');
  const sample = () => appendFileSync(loadFile, JSON.stringify({ at: new Date().toISOString(), load1: os.loadavg()[0] }) + '\n');
  sample();
  const timer = setInterval(sample, 10000);
  try {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'datarus.js'), 'rollouts', ...args, '--out', path.join(dir, 'rollouts.jsonl')], { stdio: 'inherit' });
    const code = await new Promise<number | null>(resolve => child.on('close', resolve));
    if (code !== 0) {
      throw new Error(`datarus rollouts exited with ${code}; run the same command again to resume`);
    }
  } finally {
    clearInterval(timer);
    sample();
  }
}

const fixed = (n: number | null, digits = 3) => (n === null ? 'n/a' : n.toFixed(digits));

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { dir: { type: 'string' } }, allowPositionals: true });
  if (!values.dir) {
    throw new Error('usage: npm run bench:judge -- --dir DIR [-- TASKS.jsonl --group-size G --labels LABELS --judge …]');
  }
  const dir = path.resolve(values.dir);
  if (positionals.length) {
    await runRollouts(dir, positionals);
  }
  const rows = readJsonl<RolloutRow>(path.join(dir, 'rollouts.jsonl'));
  const labelled = rows.filter(r => r.answer_correct !== null);
  const judged = labelled.filter(r => typeof r.reward_parts.hrm_episode === 'number');
  const absent = labelled.filter(r => r.judge && typeof r.reward_parts.hrm_episode !== 'number');
  if (judged.length === 0) {
    throw new Error(`${dir}/rollouts.jsonl has no judged rollouts with labels (run datarus rollouts with --labels and --judge)`);
  }
  const outcome = (score: (r: RolloutRow) => number) => (r: RolloutRow): GroupedOutcome => ({ group: r.group_id, score: score(r), right: r.answer_correct === true });
  const episodeScore = (r: RolloutRow) => r.reward_parts.hrm_episode as number;
  const auc = rocAuc(judged.map(outcome(episodeScore)));
  const withSteps = judged.filter(r => typeof r.reward_parts.hrm_step === 'number');
  const aucStep = rocAuc(withSteps.map(outcome(r => r.reward_parts.hrm_step as number)));
  const aucBoth = rocAuc(withSteps.map(outcome(r => ((r.reward_parts.hrm_step as number) + episodeScore(r)) / 2)));
  const aucStructural = rocAuc(judged.map(outcome(r => r.structural_reward)));
  const best = bestOfG(judged.map(outcome(episodeScore)));
  const bestStructural = bestOfG(judged.map(outcome(r => r.structural_reward)));
  const loads = readJsonl<{ load1: number }>(path.join(dir, 'load.jsonl')).map(l => l.load1);
  const load = loads.length ? `${(loads.reduce((a, b) => a + b, 0) / loads.length).toFixed(1)} / ${Math.max(...loads).toFixed(1)}` : 'not sampled';
  const tasks = new Set(judged.map(r => r.task_id)).size;
  const right = judged.filter(r => r.answer_correct).length;
  const models = [...new Set(judged.map(r => r.model))].join(', ');
  const judges = [...new Set(judged.map(r => `${r.judge?.model} (${r.judge?.rubric})`))].join(', ');
  const reasons = [...new Set(absent.map(r => r.judge?.reason ?? ''))].slice(0, 3);
  const date = new Date().toISOString();
  const result = {
    date,
    rollouts: rows.length,
    judged: judged.length,
    absent: absent.length,
    tasks,
    right,
    auc_right_answer: auc,
    auc_hrm_step: aucStep,
    auc_hrm_mean: aucBoth,
    auc_structural: aucStructural,
    best_of_g: best,
    best_of_g_structural: bestStructural,
    load_mean_max: load,
    rollouts_args: positionals
  };
  const markdown = [
    '## Judge',
    '',
    `Written by \`npm run bench:judge\` on ${date}. ${judged.length} judged rollouts of ${tasks} DABench dev tasks ` +
      `(${right} right, ${judged.length - right} wrong), model ${models}, judged by ${judges}` +
      (absent.length ? `; ${absent.length} more rollout(s) got no score (${reasons.join('; ')})` : '') +
      `. Load average (1 min, 2 cores) during the rollouts, mean / max: ${load}.` +
      (positionals.length ? ` Rollouts: \`datarus rollouts ${positionals.join(' ')}\`.` : ''),
    '',
    '| figure | value |',
    '|---|---|',
    `| \`judge.auc_right_answer\` (ROC AUC of \`hrm_episode\` for a right answer) | ${fixed(auc)} |`,
    `| ROC AUC of \`hrm_step\` | ${fixed(aucStep)} |`,
    `| ROC AUC of the mean of \`hrm_step\` and \`hrm_episode\` | ${fixed(aucBoth)} |`,
    `| ROC AUC of the structural reward, for comparison | ${fixed(aucStructural)} |`,
    `| \`judge.best_of_g_vs_mean\`: accuracy of the highest-\`hrm_episode\` rollout vs the group mean | ${best ? `${fixed(best.picked)} vs ${fixed(best.mean)} (${best.picked >= best.mean ? '+' : ''}${fixed(best.picked - best.mean)}), ${best.groups} groups, ${best.mixedGroups} with both right and wrong rollouts` : 'n/a'} |`,
    `| the same pick by the structural reward | ${bestStructural ? `${fixed(bestStructural.picked)} vs ${fixed(bestStructural.mean)}` : 'n/a'} |`,
    '',
    'An AUC of 0.5 is a judge that cannot tell right answers from wrong ones. Ties count half (AUC) and are broken at',
    "random (best of G: the mean accuracy of the tied top rollouts). A pick can only beat the mean in a group with both",
    'right and wrong rollouts.'
  ].join('\n');
  writePart('judge', result, markdown);
  process.stdout.write(markdown + '\n');
}

if (require.main === module) {
  main().catch(err => {
    process.stderr.write(`bench:judge stopped: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
