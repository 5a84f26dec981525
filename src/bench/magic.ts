/**
 * `npm run bench:magic`: what `%%datarus` costs per step beyond the model and
 * the code, beside the loop's own cost (src/bench/agent.ts) on the same forced
 * episode. A real Jupyter server runs the host (fixture model, forced by
 * grammars); a kernel of that server runs the episode through the magic (an
 * agent session: long polls, silent inspections, the code policy's check,
 * capture, the live display). The cell's wall time, seen by the client from
 * execute request to reply, less the host's generation time and the steps' run
 * time (both recorded in the episode), per model turn, is the magic's overhead.
 * Writes the `magic` part of benchmarks/results.json and BENCHMARKS.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Episode } from '../episode/types';
import { nodeServerSettings } from '../headless/serverSettings';
import { formatAnswer, formatStep } from '../protocol';
import { benchAgent } from './agent';
import { JupyterProcess, sleep, spawnJupyter } from './processes';
import { writePart } from './report';

const STEPS = 8;

/** The same forced episode as the agent benchmark: 8 steps, then the answer. */
const TURNS = [
  ...Array.from({ length: STEPS }, (_, i) => formatStep({ thought: `Look at row ${i}.`, code: `x_${i} = ${i} * 2\nprint(x_${i})` })),
  formatAnswer({ thought: 'Done.', text: 'All rows seen.' })
].map(t => `root ::= ${JSON.stringify(t)}`);

async function ready(jupyter: JupyterProcess): Promise<void> {
  const deadline = Date.now() + 180000;
  for (;;) {
    const status = await fetch(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } })
      .then(r => (r.ok ? (r.json() as Promise<{ state?: string }>) : null))
      .catch(() => null);
    if (status?.state === 'ready') {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error('Jupyter with the Datarus host did not become ready');
    }
    await sleep(200);
  }
}

export interface MagicBench {
  'magic.overhead_ms_per_step': number;
  turns: number;
  wallMs: number;
  modelMs: number;
  kernelMs: number;
}

export async function benchMagic(): Promise<MagicBench> {
  const episodes = path.join(os.tmpdir(), `datarus-bench-magic-${process.pid}.jsonl`);
  const jupyter = await spawnJupyter('server', { env: { DATARUS_MODEL: 'datarus-test-tiny', DATARUS_EPISODES_FILE: episodes, PYTHONPATH: path.resolve(__dirname, '..', '..') } });
  const { KernelManager } = await import('@jupyterlab/services');
  const kernels = new KernelManager({ serverSettings: await nodeServerSettings(jupyter.url, jupyter.token) });
  try {
    await ready(jupyter);
    writeFileSync(path.join(jupyter.root, 'turns.json'), JSON.stringify(TURNS));
    writeFileSync(path.join(jupyter.root, 'warmup.json'), JSON.stringify(TURNS.slice(-1)));
    const kernel = await kernels.startNew({ name: 'python3' });
    const execute = async (code: string): Promise<number> => {
      const started = performance.now();
      const future = kernel.requestExecute({ code, allow_stdin: false });
      let shown = '';
      future.onIOPub = msg => {
        const data = (msg.content as { data?: Record<string, string>; text?: string }).data?.['text/plain'] ?? (msg.content as { text?: string }).text;
        shown = data ?? shown;
      };
      const reply = await future.done;
      const wall = performance.now() - started;
      if (reply.content.status !== 'ok' || shown.includes('%%datarus:')) {
        throw new Error(`the cell failed: ${JSON.stringify(reply.content).slice(0, 300)} ${shown.slice(-500)}`);
      }
      return wall;
    };
    await execute(`import os\nos.chdir(${JSON.stringify(jupyter.root)})\n%load_ext datarus_jupyterlab`);
    // One warm-up episode: the first cell pays for imports, the session's first requests and the host's first prompt.
    await execute('%%datarus --grammar warmup.json --max-steps 2\nwarm up');
    const wallMs = await execute(`%%datarus --grammar turns.json --max-steps ${STEPS + 1}\nLook at every row.`);
    const episode = readFileSync(episodes, 'utf8')
      .trim()
      .split('\n')
      .map(line => JSON.parse(line))
      .map(line => (line.episode ?? line) as Episode)
      .find(e => e.question === 'Look at every row.');
    if (!episode || episode.status !== 'answered' || episode.steps.length !== STEPS) {
      throw new Error(`the forced episode did not run as scripted: ${episode?.status} ${episode?.reason ?? ''}`);
    }
    // The answer turn's generation is not recorded apart: it is the time from the last step's end to the episode's end
    // (an upper bound, so the overhead is, if anything, under-counted by the loop's last few ms).
    const last = episode.steps[episode.steps.length - 1];
    const answerMs = Date.parse(episode.endedAt ?? last.endedAt) - Date.parse(last.endedAt);
    const modelMs = episode.steps.reduce((sum, s) => sum + s.modelMs, 0) + answerMs;
    const kernelMs = episode.steps.reduce((sum, s) => sum + s.kernelMs, 0);
    const turns = STEPS + 1;
    await kernel.shutdown();
    return { 'magic.overhead_ms_per_step': (wallMs - modelMs - kernelMs) / turns, turns, wallMs, modelMs, kernelMs };
  } finally {
    await kernels.shutdownAll().catch(() => undefined);
    kernels.dispose();
    jupyter.stop();
  }
}

async function main(): Promise<void> {
  const magic = await benchMagic();
  const agent = await benchAgent();
  const date = new Date().toISOString();
  const load = os.loadavg().map(n => n.toFixed(2)).join(' / ');
  const markdown = [
    '## %%datarus in the kernel',
    '',
    `Written by \`npm run bench:magic\` on ${date} (CPU; load average ${load} at the end, on a machine shared by 7 sessions).`,
    `The same forced ${STEPS}-step episode plus the answer turn as the agent benchmark, run through \`%%datarus\` in a kernel of a`,
    "Jupyter server with the extension (the server's host, fixture model), after one warm-up cell. Wall time is the cell's,",
    'from execute request to reply; model time is the host-side generation the episode records per step (the answer turn:',
    "last step's end to the episode's end); kernel time is each step's `run_cell` as the kernel timed it. The magic's",
    'overhead holds the long polls, the silent inspections (the context, and the code policy\'s check of every step), the',
    "capture of outputs and the live display. The agent figure beside it is `agent.overhead_ms_per_step`, measured right after;",
    'that benchmark runs no code policy and gathers no context, so the difference is not all transport.',
    '',
    '| metric | value |',
    '|---|---|',
    `| \`magic.overhead_ms_per_step\` (cell wall − model − kernel, per turn) | ${magic['magic.overhead_ms_per_step'].toFixed(1)} ms |`,
    `| cell wall / model / kernel time | ${magic.wallMs.toFixed(0)} / ${magic.modelMs.toFixed(0)} / ${magic.kernelMs.toFixed(0)} ms |`,
    `| \`agent.overhead_ms_per_step\` (same episode, loop in Node, same run) | ${agent['agent.overhead_ms_per_step'].toFixed(2)} ms |`
  ].join('\n');
  writePart('magic', { date, load, magic, agent: { 'agent.overhead_ms_per_step': agent['agent.overhead_ms_per_step'], wallMs: agent.wallMs, modelMs: agent.modelMs, kernelMs: agent.kernelMs } }, markdown);
  process.stdout.write(markdown + '\n');
}

if (require.main === module) {
  main().catch(err => {
    process.stderr.write(`bench:magic stopped: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
