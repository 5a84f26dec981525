/**
 * `npm run bench:parallel [-- --models datarus-test-tiny,qwen2.5-coder-1.5b] [--tokens N] [--rounds N]`:
 * `host.parallel2_vs_single` on the CPU: two episodes streaming at once through the host,
 * tokens of both per second ÷ one episode alone, on two hosts side by side: one taking the
 * episodes' decode steps together (the default, src/host/generation/decodeSteps.ts), one leaving the
 * batching to node-llama-cpp (`--decode-steps apart`). Rounds alternate between the hosts and
 * between one and two episodes, so both see the same load. Writes the `host-parallel` part of
 * benchmarks/results.json and BENCHMARKS.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { BenchHost, startBenchHost } from './processes';
import { writePart } from './report';
import { streamGenerate } from './util';

const ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_MODELS = ['datarus-test-tiny', 'qwen2.5-coder-1.5b'];
const MODES = ['together', 'apart'] as const;
type Mode = (typeof MODES)[number];

function manifest(name: string): { file: string; displayName?: string } {
  return JSON.parse(readFileSync(path.join(ROOT, 'models', `${name}.json`), 'utf8'));
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** `n` episodes with prompts of their own at once: tokens of all per second, from the first request to the last token. */
async function atOnce(host: BenchHost, n: number, tokens: number, round: number): Promise<{ tokensPerSecond: number; episodesPerStep: number | null }> {
  const status = async () => ((await (await host.request('status')).json()) as any).episodes.decodeSteps;
  const before = await status();
  const t0 = performance.now();
  const ids = Array.from({ length: n }, (_, i) => `parallel-${round}-${n}-${i}`);
  const runs = await Promise.all(
    ids.map((episodeId, i) => streamGenerate(host, { episodeId, prompt: `Q${i}: describe the data in df, column by column.\nA:`, maxTokens: tokens, temperature: 0 }, t0))
  );
  const after = await status();
  for (const id of ids) {
    await host.request(`episodes/${id}`, { method: 'DELETE' });
  }
  const seconds = Math.max(...runs.map(r => r.lastMs)) / 1000;
  const steps = after.steps === null ? null : after.steps - before.steps;
  return { tokensPerSecond: runs.reduce((sum, r) => sum + r.tokens, 0) / seconds, episodesPerStep: steps ? (after.sequences - before.sequences) / steps : null };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { models: { type: 'string' }, tokens: { type: 'string', default: '64' }, rounds: { type: 'string', default: '3' } } });
  const names = values.models ? values.models.split(',') : DEFAULT_MODELS;
  const tokens = Number(values.tokens);
  const rounds = Number(values.rounds);
  const loadAtStart = os.loadavg();
  const models = [];
  for (const name of names) {
    if (!existsSync(path.join(ROOT, 'models', 'cache', manifest(name).file))) {
      process.stderr.write(`bench:parallel: skipping ${name} (not in models/cache)\n`);
      continue;
    }
    process.stderr.write(`bench:parallel: ${name}…\n`);
    const hosts: Partial<Record<Mode, BenchHost>> = {};
    try {
      for (const mode of MODES) {
        hosts[mode] = await startBenchHost(name, ['--models-dir', path.join(ROOT, 'models', 'cache'), '--max-episodes', '2', '--no-prompt-cache', '--decode-steps', mode]);
      }
      const threads = ((await (await hosts.together!.request('status')).json()) as any).threads;
      const single: Record<Mode, number[]> = { together: [], apart: [] };
      const pair: Record<Mode, number[]> = { together: [], apart: [] };
      const perStep: number[] = [];
      await atOnce(hosts.together!, 1, 4, -1); // warm-up
      await atOnce(hosts.apart!, 1, 4, -1);
      for (let round = 0; round < rounds; round++) {
        for (const mode of MODES) {
          single[mode].push((await atOnce(hosts[mode]!, 1, tokens, round)).tokensPerSecond);
          const two = await atOnce(hosts[mode]!, 2, tokens, round);
          pair[mode].push(two.tokensPerSecond);
          if (two.episodesPerStep !== null) {
            perStep.push(two.episodesPerStep);
          }
        }
      }
      const ratio = (mode: Mode) => median(pair[mode]) / median(single[mode]);
      models.push({
        model: name,
        label: manifest(name).displayName ?? name,
        threads,
        'host.parallel2_vs_single': ratio('together'),
        apart: ratio('apart'),
        tokensPerSecond: { single, pair },
        episodesPerStepTogether: median(perStep)
      });
    } finally {
      for (const host of Object.values(hosts)) {
        await host?.stop();
      }
    }
  }
  const date = new Date().toISOString();
  const load = (l: number[]) => l.map(n => n.toFixed(2)).join(' / ');
  const f = (n: number | null, d = 2) => (n === null || !Number.isFinite(n) ? '–' : n.toFixed(d));
  const markdown = [
    '## Parallel episodes on the CPU: `host.parallel2_vs_single`',
    '',
    `Written by \`npm run bench:parallel\` on ${date} (${os.availableParallelism()} cores; load average ${load(loadAtStart)} at the start, ` +
      `${load(os.loadavg())} at the end). Two episodes streaming at once through the host ÷ one alone (tokens/s of all, median of ${rounds} ` +
      `interleaved rounds, ${tokens} tokens each, greedy, no grammar), on two hosts side by side: decode steps together (the default) ` +
      'and apart (`--decode-steps apart`: node-llama-cpp\'s batching alone).',
    '',
    '| model (host threads) | `host.parallel2_vs_single`, steps together | steps apart | episodes per decode step, together | tokens/s: one / two at once, together; apart |',
    '|---|---|---|---|---|',
    ...models.map(
      m =>
        `| ${m.label} (${m.threads}) | **${f(m['host.parallel2_vs_single'])}** | ${f(m.apart)} | ${f(m.episodesPerStepTogether)} | ` +
        `${f(median(m.tokensPerSecond.single.together), 1)} / ${f(median(m.tokensPerSecond.pair.together), 1)}; ${f(median(m.tokensPerSecond.single.apart), 1)} / ${f(median(m.tokensPerSecond.pair.apart), 1)} |`
    ),
    '',
    'How: `src/bench/parallelRun.ts`. Each episode has a prompt of its own; the prompt cache is off so that only decoding is',
    'compared. Episodes per decode step are the host\'s own count (`/api/status` → `episodes.decodeSteps`).'
  ].join('\n');
  writePart('host-parallel', { date, loadAverage: { start: loadAtStart, end: os.loadavg() }, tokens, rounds, models }, markdown);
  process.stdout.write(markdown + '\n');
}

if (require.main === module) {
  main().catch(err => {
    process.stderr.write(`bench:parallel stopped: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
