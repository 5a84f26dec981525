/**
 * `npm run bench:long-episode [-- --models datarus-test-tiny,qwen2.5-coder-1.5b] [--threads N]`:
 * `agent.long_episode_prefill_ratio` (src/bench/longEpisode.ts), each model on
 * a host of its own (one episode slot, the context below), kernels from a
 * plain Jupyter server. Writes the `long-episode` part of
 * benchmarks/results.json and BENCHMARKS.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { nodeServerSettings } from '../headless/serverSettings';
import { benchLongEpisode, LONG_EPISODE_STEPS, longEpisodeMarkdown, LongEpisodeBench } from './longEpisode';
import { startBenchHost, startKernelServer } from './processes';
import { writePart } from './report';

const ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_MODELS = ['datarus-test-tiny'];

/**
 * Per model: the context, and the rows a step prints. The fixture's tokens are
 * bytes, so 95 rows (~1,500 tokens) a step fill its context every few steps;
 * the starter's tokens hold ~3 characters, so fewer rows in a smaller context
 * need about as many cuts at a price two cores can pay.
 */
const SIZES: Record<string, { contextSize: number; rows: number }> = {
  'datarus-test-tiny': { contextSize: 8192, rows: 95 },
  'qwen2.5-coder-1.5b': { contextSize: 4096, rows: 95 }
};
const MAX_TOKENS = 256;

function manifest(name: string): { file: string; displayName?: string } {
  return JSON.parse(readFileSync(path.join(ROOT, 'models', `${name}.json`), 'utf8'));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { models: { type: 'string' }, threads: { type: 'string' } } });
  const names = values.models ? values.models.split(',') : DEFAULT_MODELS;
  const threads = values.threads ?? '1';
  const runs: LongEpisodeBench[] = [];
  const skipped: string[] = [];
  const jupyter = await startKernelServer();
  const { KernelManager } = await import('@jupyterlab/services');
  const kernels = new KernelManager({ serverSettings: await nodeServerSettings(jupyter.url, jupyter.token) });
  const loads: string[] = [];
  try {
    for (const name of names) {
      const file = manifest(name).file;
      const size = SIZES[name];
      if (!size || !existsSync(path.join(ROOT, 'models', 'cache', file))) {
        skipped.push(`${name} (${size ? `${file} is not in models/cache` : 'no sizes for it in src/bench/longEpisodeRun.ts'})`);
        continue;
      }
      process.stderr.write(`bench:long-episode: ${name}…\n`);
      const host = await startBenchHost(name, ['--max-episodes', '1', '--context-size', String(size.contextSize), '--threads', threads]);
      try {
        runs.push(await benchLongEpisode(host, kernels, { model: `${manifest(name).displayName ?? name}, ${threads} thread${threads === '1' ? '' : 's'}`, contextSize: size.contextSize, rows: size.rows, maxTokens: MAX_TOKENS }));
        loads.push(os.loadavg().map(n => n.toFixed(2)).join(' / '));
      } finally {
        await host.stop();
      }
    }
  } finally {
    await kernels.shutdownAll().catch(() => undefined);
    kernels.dispose();
    jupyter.stop();
  }
  const date = new Date().toISOString();
  const markdown = [
    '## Long episodes: what the token budget\'s cuts cost the KV cache',
    '',
    `Written by \`npm run bench:long-episode\` on ${date} (CPU; load average after each model: ${loads.join('; ') || 'none measured'}).` +
      (skipped.length ? ` Not measured: ${skipped.join('; ')}.` : ''),
    '',
    ...longEpisodeMarkdown(runs),
    '',
    `How: \`src/bench/longEpisode.ts\`. A forced episode of ${LONG_EPISODE_STEPS} steps through the real \`AgentLoop\` + \`HostModel\` +`,
    '`datarus serve` (one episode slot) + ipykernel: the first step defines `part(k)`, which prints a numbered table, and each step',
    'prints the next part; then the answer. The long episode prints 95 rows a step (about 1,500 characters), several times the',
    'context over the episode, so the budget (`src/agent/budget.ts`) cuts observations; the fitting one has 15 steps of one row.',
    "The fixture's context is at most its trained 8,192 and its tokens are bytes, so each step's own text (tags, code, the next",
    'user turn) stays about 270 tokens after its output is cut to one line: some 22 of the 30 steps fit before the loop asks for the answer.',
    "Evaluated tokens are the host's own counts from each turn's `done` event (`usage.evaluatedPromptTokens` + `completionTokens`);",
    "the final prompt and the cut tokens are the host's counts (`/api/tokens`) of the final conversation and of the same",
    'conversation without its cuts. A ratio of 1 would mean that no token was evaluated twice; every cut re-evaluates the prompt',
    'from the cut on. That ratio also counts outputs cut before the model read them, in its favour; the stricter one divides by',
    "each turn's new messages (what no cache could have held), counted apart with the host's tokenizer, which is not exact for",
    "the chat template's tokens: read it against the fitting episode's.",
    '',
    'Seen on 2026-12-03 and not explained yet: the answer turn the loop asks for once the context is full either evaluates',
    'almost its whole prompt again (its `warmStart` says nothing was reused and the saved system prompt was loaded) or, in',
    'about half the runs, is aborted by the host after one token (`stopReason: abort`), which ends the episode as "stopped by',
    'the user" and this benchmark with an error. The same episode driven by a short script did not show either.'
  ].join('\n');
  writePart('long-episode', { date, runs, skipped, loads }, markdown);
  process.stdout.write(markdown + '\n');
}

if (require.main === module) {
  main().catch(err => {
    process.stderr.write(`bench:long-episode stopped: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
