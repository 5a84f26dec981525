/**
 * `npm run bench:warmstart [-- --models datarus-test-tiny,qwen2.5-coder-1.5b] [--threads N]`:
 * warm starts and group prefill (src/bench/warmStart.ts) on the fixture and on
 * the starter when its GGUF is in models/cache, each on a host of its own with
 * 8 episode slots. Writes the `warm-start` part of benchmarks/results.json and
 * BENCHMARKS.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { startBenchHost } from './processes';
import { writePart } from './report';
import { benchWarmStart, warmStartMarkdown, WarmStartBench } from './warmStart';

const ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_MODELS = ['datarus-test-tiny', 'qwen2.5-coder-1.5b'];
const GROUP_SIZE = 8;

function manifest(name: string): { file: string; displayName?: string } {
  return JSON.parse(readFileSync(path.join(ROOT, 'models', `${name}.json`), 'utf8'));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { models: { type: 'string' }, threads: { type: 'string' } } });
  const names = values.models ? values.models.split(',') : DEFAULT_MODELS;
  const runs: { label: string; model: string; result: WarmStartBench }[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    const file = manifest(name).file;
    if (!existsSync(path.join(ROOT, 'models', 'cache', file))) {
      skipped.push(`${name} (${file} is not in models/cache)`);
      continue;
    }
    process.stderr.write(`bench:warmstart: ${name}…\n`);
    // 8 slots for the group; 4,096 tokens each keeps the starter's KV cache under 1 GB on the CPU.
    const args = [
      ...['--models-dir', path.join(ROOT, 'models', 'cache'), '--max-episodes', String(GROUP_SIZE), '--context-size', '4096'],
      ...(values.threads ? ['--threads', values.threads] : [])
    ];
    const host = await startBenchHost(name, args);
    try {
      const status = (await (await host.request('status')).json()) as any;
      const result = await benchWarmStart(host, { profile: status.model.promptProfile, groupSize: GROUP_SIZE });
      runs.push({ label: `${manifest(name).displayName ?? name} (${status.threads} threads)`, model: name, result });
    } finally {
      await host.stop();
    }
  }
  const date = new Date().toISOString();
  const load = os.loadavg().map(n => n.toFixed(2)).join(' / ');
  const markdown = [
    '## Warm starts and group prefill',
    '',
    `Written by \`npm run bench:warmstart\` on ${date} (CPU; load average ${load} at the end). Each model on a host of its own ` +
      `with ${GROUP_SIZE} episode slots and a 4,096-token context per slot.` +
      (skipped.length ? ` Not measured: ${skipped.join('; ')}.` : ''),
    '',
    ...warmStartMarkdown(runs),
    '',
    'How: `src/bench/warmStart.ts`. A running episode of 5 forced steps (the first turn saves the system prompt\'s state; the',
    'median time to first token of steps 2–5 is the new step); then new episodes with new questions, each warm (the',
    "profile's system prompt) and cold (a system prompt with a unique first line, so nothing saved shares it), interleaved,",
    'median of 3; then 8 new episodes with one new prompt (a unique first line) sent at once. Evaluated prompt tokens are the',
    "host's own counts (`usage.evaluatedPromptTokens`, from node-llama-cpp's token meter, which counts the last prompt token,",
    'evaluated with the first sample, as output), save and load times the prompt cache\'s (`/api/status` →',
    '`episodes.promptCache`). The first-turn prompt is shorter than a new step\'s new tokens (an observation and the next',
    'user message), which is why a warm new episode can beat a new step.'
  ].join('\n');
  writePart('warm-start', { date, runs, skipped }, markdown);
  process.stdout.write(markdown + '\n');
}

if (require.main === module) {
  main().catch(err => {
    process.stderr.write(`bench:warmstart stopped: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
