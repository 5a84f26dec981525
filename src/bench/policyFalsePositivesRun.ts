/**
 * `npm run bench:policy -- LOG_OR_RUN_DIR… [--data DIR] [--write] [--review TEXT]`: how often the code policy
 * flags the steps of recorded episodes (the episode log a `datarus eval` or `bench:dabench` run writes with
 * `--log`; a run folder means its `episodes.jsonl`, restricted to the episodes its `results.jsonl` lists).
 *
 * Each episode is replayed in a fresh kernel of a private Jupyter server, in a folder holding the data files
 * its code read (found in `--data`, e.g. DABench's `da-dev-tables/`): every step is first checked by the real
 * policy (`kernelPolicy`, the classifier `datarus run` and Analyze use, through the same silent evaluation),
 * then, when the recording ran it and the policy passes it now, run, so that the next step is checked with the
 * names this one made, as in the episode. A flagged step is never run. `--write` puts the figure into
 * benchmarks/results.json and BENCHMARKS.md (`policy-false-positives`), with `--review` saying which flagged
 * steps were ordinary analysis (read by a person: the script cannot tell).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { kernelPolicy } from '../agent/codePolicy';
import { dataFiles } from '../episode/export';
import { migrate } from '../episode/schema';
import type { Episode } from '../episode/types';
import { KernelPool } from '../headless/kernels';
import { CheckedStep, countFlags, policyFlagsMarkdown } from './policyFalsePositives';
import { writePart } from './report';

const STEP_TIMEOUT_MS = 120000;

/** The latest record of each episode in a log file. */
function readEpisodes(file: string): Map<string, Episode> {
  const episodes = new Map<string, Episode>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) {
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue; // a line cut off by a run still writing
    }
    const result = migrate(parsed);
    if ('record' in result && result.record?.type === 'episode') {
      episodes.set(result.record.episode.id, result.record.episode as Episode);
    }
  }
  return episodes;
}

/** The episodes a path holds: a log file, or a run folder's log restricted to the episodes of its results. */
function episodesOf(source: string): Episode[] {
  if (!statSync(source).isDirectory()) {
    return [...readEpisodes(source).values()];
  }
  const all = readEpisodes(path.join(source, 'episodes.jsonl'));
  const results = path.join(source, 'results.jsonl');
  if (!existsSync(results)) {
    return [...all.values()];
  }
  const ids = new Set<string>();
  for (const line of readFileSync(results, 'utf8').split('\n')) {
    try {
      const id = JSON.parse(line).episodeId;
      if (typeof id === 'string') {
        ids.add(id);
      }
    } catch {
      // an unfinished line
    }
  }
  return [...all.values()].filter(e => ids.has(e.id));
}

const RAN = new Set(['ok', 'error', 'timeout']);

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { data: { type: 'string' }, write: { type: 'boolean' }, review: { type: 'string' }, note: { type: 'string' } }
  });
  if (positionals.length === 0) {
    throw new Error('give the episode logs or run folders to read');
  }
  const episodes = positionals.flatMap(p => episodesOf(path.resolve(p)));
  process.stderr.write(`bench:policy: ${episodes.length} episode(s)\n`);
  const pool = await KernelPool.local();
  const checked: CheckedStep[] = [];
  try {
    for (const episode of episodes) {
      const files = values.data
        ? dataFiles(episode)
            .map(name => ({ name, source: path.join(values.data!, name) }))
            .filter(f => !f.name.includes('/') && existsSync(f.source))
        : [];
      const lease = await pool.open(`policy-${episode.id}`, files);
      const runner = lease.runner;
      const policy = kernelPolicy(runner.inspect ? expression => runner.inspect!(expression) : undefined);
      try {
        for (const step of episode.steps) {
          if (step.status === 'invalid' || !step.code.trim()) {
            continue;
          }
          const findings = await policy.check(step.code);
          checked.push({ episodeId: episode.id, step: step.index, code: step.code, findings, recorded: step.risks ?? [] });
          if (findings.length) {
            process.stderr.write(`flagged: ${episode.id} step ${step.index}: ${findings.map(f => f.reason).join('; ')}\n`);
          } else if (RAN.has(step.status)) {
            await runner.run(step.code, { episodeId: episode.id, step: step.index, signal: new AbortController().signal, timeoutMs: STEP_TIMEOUT_MS, metadata: {} });
          }
        }
      } finally {
        await lease.dispose();
      }
    }
  } finally {
    await pool.close();
  }
  const flags = countFlags(episodes.length, checked);
  const source = values.note ?? `${episodes.length} episodes of ${positionals.join(', ')}; load ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores at the end`;
  const markdown = policyFlagsMarkdown(flags, source, values.review ?? 'Not yet reviewed: which flagged steps were ordinary analysis is for a person to read.');
  if (values.write) {
    writePart('policy-false-positives', { ...flags, source, review: values.review ?? null, measuredAt: new Date().toISOString() }, markdown);
  }
  process.stdout.write(`${markdown}\n`);
  for (const e of flags.examples) {
    process.stdout.write(`\n--- ${e.episodeId} step ${e.step}: ${e.reason}\n${e.code}\n`);
  }
}

main().catch(err => {
  process.stderr.write(`bench:policy: ${(err as Error).message}\n`);
  process.exit(1);
});
