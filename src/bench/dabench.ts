/**
 * `npm run bench:dabench -- --data DIR [--ids FILE] --variant NAME [eval options]`:
 * InfiAgent-DABench through `datarus eval` with the model and settings a user
 * gets, into benchmarks/results.json (`dabench`, one entry per variant) and a
 * section of BENCHMARKS.md that lists every variant measured, so that levers
 * tried one at a time stay side by side.
 *
 * DIR is the benchmark's own data folder (InfiAgent/InfiAgent,
 * `examples/DA-Agent/data/`: `da-dev-questions.jsonl`, `da-dev-labels.jsonl`,
 * `da-dev-tables/`); nothing of it is in this repository and nothing is
 * fetched. `--ids` keeps only the ids it lists (one a line). With `--from DIR`
 * an eval already run into DIR is reported instead of running one.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { evalCommand, EvalOptions, EvalSummary, latestResults, loadTaskFiles, summarize, TaskResult } from '../headless/evaluate';
import { readJsonLines } from '../host/episodes/jsonl';
import { readResults, writePart } from './report';

export interface DabenchVariant {
  variant: string;
  /** What differs from the default, in words. */
  note: string;
  questions: number;
  byQuestion: number;
  bySubQuestion: number;
  proportional: number;
  noAnswerShare: number;
  medianSeconds: number;
  tokensPerRightAnswer: number | null;
  byLevel: EvalSummary['byLevel'];
  byConcept: EvalSummary['byConcept'];
  /** Load average (1 min) sampled during the run: mean and max, on a machine of `cores` cores. */
  load: { mean: number; max: number } | null;
  cores: number;
  measuredAt: string;
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) {
    return undefined;
  }
  const value = args[i + 1];
  args.splice(i, 2);
  return value;
}

/** The tasks of the benchmark's file whose ids `--ids` lists, written beside the results. */
function selectTasks(data: string, idsFile: string | undefined, out: string): string {
  const questions = readFileSync(path.join(data, 'da-dev-questions.jsonl'), 'utf8').split('\n').filter(Boolean);
  const ids = idsFile ? new Set(readFileSync(idsFile, 'utf8').split(/\s+/).filter(Boolean)) : null;
  const kept = questions.filter(line => !ids || ids.has(String(JSON.parse(line).id)));
  mkdirSync(out, { recursive: true });
  const file = path.join(out, 'tasks.jsonl');
  writeFileSync(file, kept.join('\n') + '\n');
  return file;
}

function loadOf(file: string): { mean: number; max: number } | null {
  let samples: number[];
  try {
    samples = readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number).filter(Number.isFinite);
  } catch {
    return null;
  }
  return samples.length ? { mean: samples.reduce((a, b) => a + b, 0) / samples.length, max: Math.max(...samples) } : null;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function dabenchMarkdown(variants: DabenchVariant[]): string {
  const lines = [
    '## InfiAgent-DABench (dev split)',
    '',
    '`npm run bench:dabench -- --data DIR --ids ../shared/dabench/dev-ids.txt --variant NAME` (DIR: the benchmark\'s `examples/DA-Agent/data/`, not in this repo).',
    'Scored as the benchmark scores (`@name[value]`, exact or within 1e-6); a task that gave no answer counts as wrong. The leaderboard on all 257 dev',
    'questions: GPT-4-0613 78.7%, GPT-3.5-turbo 65.7%, daagent-7b 57.6%, deepseek-coder-33b 48.9%, qwen-7b-chat 27.3%. Seconds are wall time on the',
    'shared 2-core machine and measure its load as much as the model (load average beside each row).',
    '',
    '| variant | questions | by question | by sub-question | proportional | no answer | median s | tokens per right answer | load (mean / max) | measured |',
    '|---|---|---|---|---|---|---|---|---|---|'
  ];
  for (const v of variants) {
    const load = v.load ? `${v.load.mean.toFixed(1)} / ${v.load.max.toFixed(1)} (${v.cores} cores)` : '';
    lines.push(
      `| ${v.variant}: ${v.note} | ${v.questions} | ${pct(v.byQuestion)} | ${pct(v.bySubQuestion)} | ${pct(v.proportional)} | ${pct(v.noAnswerShare)} | ${v.medianSeconds.toFixed(0)} | ${v.tokensPerRightAnswer?.toFixed(0) ?? ''} | ${load} | ${v.measuredAt.slice(0, 10)} |`
    );
  }
  const last = variants[variants.length - 1];
  for (const [title, groups] of [
    ['level', last?.byLevel],
    ['concept', last?.byConcept]
  ] as const) {
    if (groups && Object.keys(groups).length) {
      lines.push('', `By ${title}, ${last.variant}:`, '', `| ${title} | questions | right | accuracy |`, '|---|---|---|---|');
      for (const [name, g] of Object.entries(groups)) {
        lines.push(`| ${name} | ${g.questions} | ${g.right} | ${pct(g.accuracy)} |`);
      }
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const data = flag(args, '--data');
  const ids = flag(args, '--ids');
  const variant = flag(args, '--variant') ?? 'default';
  const note = flag(args, '--note') ?? 'the default settings';
  const from = flag(args, '--from');
  const out = path.resolve(flag(args, '--out') ?? from ?? path.join('datarus-eval', `dabench-${variant}`));
  if (!data) {
    throw new Error("--data DIR is required: the benchmark's examples/DA-Agent/data/ folder");
  }
  const tasksFile = from ? path.join(out, 'tasks.jsonl') : selectTasks(data, ids, out);
  const loadFile = path.join(out, 'load.txt');
  let summary: EvalSummary;
  if (from) {
    const { tasks, labels } = await loadTaskFiles(tasksFile, path.join(data, 'da-dev-labels.jsonl'));
    const rows = await readJsonLines<TaskResult>(path.join(out, 'results.jsonl'), () => undefined);
    summary = summarize(tasks, latestResults(rows, tasks), labels, 0);
  } else {
    const sampler = setInterval(() => writeFileSync(loadFile, `${os.loadavg()[0]}\n`, { flag: 'a' }), 30000);
    try {
      const options = parseEvalArgs(args);
      summary = await evalCommand(tasksFile, { ...options, labels: path.join(data, 'da-dev-labels.jsonl'), dataDir: path.join(data, 'da-dev-tables'), out }, line => process.stderr.write(`${line}\n`));
    } finally {
      clearInterval(sampler);
    }
  }
  const a = summary.accuracy!;
  const entry: DabenchVariant = {
    variant,
    note,
    questions: a.questions,
    byQuestion: a.byQuestion,
    bySubQuestion: a.bySubQuestion,
    proportional: a.proportional,
    noAnswerShare: summary.noAnswerShare,
    medianSeconds: summary.medianSeconds,
    tokensPerRightAnswer: summary.tokensPerRightAnswer,
    byLevel: summary.byLevel,
    byConcept: summary.byConcept,
    load: loadOf(loadFile),
    cores: os.cpus().length,
    measuredAt: new Date().toISOString()
  };
  const previous = (readResults().dabench as { variants?: DabenchVariant[] } | undefined)?.variants ?? [];
  const variants = [...previous.filter(v => v.variant !== variant), entry];
  const markdown = dabenchMarkdown(variants);
  writePart('dabench', { variants }, markdown);
  process.stdout.write(markdown + '\n');
}

/** The few `datarus eval` options this script passes through. */
function parseEvalArgs(args: string[]): EvalOptions {
  const number = (name: string) => {
    const value = flag(args, name);
    return value === undefined ? undefined : Number(value);
  };
  const options: EvalOptions = {
    model: flag(args, '--model') ?? flag(args, '-m'),
    profile: flag(args, '--profile'),
    threads: number('--threads'),
    temperature: number('--temperature'),
    maxSteps: number('--max-steps'),
    parallel: number('--parallel') ?? 1,
    votes: number('--votes') ?? 1,
    quiet: true,
    out: '',
    log: flag(args, '--log') ?? false
  };
  if (args.length > 0) {
    throw new Error(`bench:dabench: unknown arguments ${args.join(' ')}`);
  }
  return options;
}

if (require.main === module) {
  main().catch(err => {
    process.stderr.write(`bench:dabench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
