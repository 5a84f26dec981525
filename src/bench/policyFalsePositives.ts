/**
 * The code policy's flags on recorded episodes, counted: steps checked, steps
 * flagged, by category, with examples. Counting and the report only; the
 * replay in a real kernel is policyFalsePositivesRun.ts.
 */
import type { RiskFinding } from '../episode/types';

/** One step as the policy judged it on replay. */
export interface CheckedStep {
  episodeId: string;
  step: number;
  code: string;
  findings: RiskFinding[];
  /** What the recorded run's policy found (nothing recorded: nothing found, or a run from before the policy). */
  recorded: RiskFinding[];
}

export interface PolicyExample {
  episodeId: string;
  step: number;
  categories: string[];
  reason: string;
  /** The code's first lines. */
  code: string;
}

export interface PolicyFlags {
  episodes: number;
  steps: number;
  flagged: number;
  rate: number;
  /** Steps flagged per category (a step with two categories counts in both). */
  byCategory: Record<string, number>;
  /** Steps whose replayed findings differ from the recorded ones (categories compared). */
  differFromRecord: number;
  examples: PolicyExample[];
}

const EXAMPLE_LINES = 6;

export function countFlags(episodes: number, checked: CheckedStep[], maxExamples = 20): PolicyFlags {
  const flagged = checked.filter(c => c.findings.length > 0);
  const byCategory: Record<string, number> = {};
  for (const c of flagged) {
    for (const category of new Set(c.findings.map(f => f.category))) {
      byCategory[category] = (byCategory[category] ?? 0) + 1;
    }
  }
  const categories = (findings: RiskFinding[]) => [...new Set(findings.map(f => f.category))].sort().join(',');
  return {
    episodes,
    steps: checked.length,
    flagged: flagged.length,
    rate: checked.length ? flagged.length / checked.length : 0,
    byCategory: Object.fromEntries(Object.entries(byCategory).sort(([a], [b]) => a.localeCompare(b))),
    differFromRecord: checked.filter(c => categories(c.recorded) !== categories(c.findings)).length,
    examples: flagged.slice(0, maxExamples).map(c => ({
      episodeId: c.episodeId,
      step: c.step,
      categories: [...new Set(c.findings.map(f => f.category))].sort(),
      reason: c.findings.map(f => (f.line ? `${f.reason}, line ${f.line}` : f.reason)).join('; '),
      code: c.code.split('\n').slice(0, EXAMPLE_LINES).join('\n')
    }))
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The BENCHMARKS.md section: the figure, what it was measured on, and each flagged step. */
export function policyFlagsMarkdown(flags: PolicyFlags, source: string, review: string): string {
  const lines = [
    '## Code policy on DABench episodes (false positives)',
    '',
    '`npm run bench:policy -- RUN_DIR --data DABENCH_DATA`: every step of the recorded episodes is classified again by the',
    'code policy in a real kernel (the classifier `datarus run` and Analyze use), replaying each episode: a step the',
    'recording ran and the policy passes is run after it is checked, so later steps are checked with the names earlier ones',
    'made. Goal: at most 2% of ordinary analysis steps flagged.',
    '',
    `Source: ${source}.`,
    '',
    '| episodes | steps checked | steps flagged | flagged share |',
    '|---|---|---|---|',
    `| ${flags.episodes} | ${flags.steps} | ${flags.flagged} | ${pct(flags.rate)} |`
  ];
  if (Object.keys(flags.byCategory).length) {
    lines.push('', 'Flagged steps by category: ' + Object.entries(flags.byCategory).map(([k, n]) => `${k} ${n}`).join(', ') + '.');
  }
  if (flags.examples.length) {
    lines.push('', 'Flagged steps:', '');
    for (const e of flags.examples) {
      lines.push(`- ${e.episodeId} step ${e.step} (${e.categories.join(', ')}): ${e.reason}`);
    }
  }
  lines.push('', review);
  return lines.join('\n');
}
