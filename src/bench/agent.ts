/**
 * Agent benchmark: the loop's own cost per step, apart from the model and the
 * kernel. A real Jupyter server runs the host (fixture model, forced by
 * grammars into a fixed episode) and a real ipykernel; the model and the runner
 * are wrapped with timers, and what is left of the wall time is the loop's.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { HostModel } from '../agent/hostModel';
import { KernelRunner } from '../agent/kernelRunner';
import { AgentLoop } from '../agent/loop';
import type { AgentModel, CodeRunner } from '../agent/types';
import { formatAnswer, formatStep } from '../protocol';
import { freePort } from './util';
import { nodeServerSettings } from '../headless/serverSettings';

const ROOT = path.resolve(__dirname, '..', '..');
const STEPS = 8;

async function startJupyter(): Promise<{ url: string; token: string; proc: ChildProcess }> {
  const port = await freePort();
  const token = randomBytes(12).toString('hex');
  const root = mkdtempSync(path.join(os.tmpdir(), 'datarus-bench-'));
  const proc = spawn(
    path.join(ROOT, '.venv', 'bin', 'jupyter'),
    ['server', '--no-browser', `--ServerApp.port=${port}`, '--ServerApp.ip=127.0.0.1', `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${root}`, '--ServerApp.allow_root=True'],
    { env: { ...process.env, DATARUS_MODEL: 'datarus-test-tiny', PATH: `${path.join(ROOT, '.venv', 'bin')}:${process.env.PATH}` }, stdio: 'ignore' }
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  for (;;) {
    const status = await fetch(`${url}/datarus/api/status`, { headers: { Authorization: `token ${token}` } })
      .then(r => (r.ok ? (r.json() as Promise<any>) : null))
      .catch(() => null);
    if (status?.state === 'ready') {
      return { url, token, proc };
    }
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error('Jupyter with the Datarus host did not become ready');
    }
    await new Promise(r => setTimeout(r, 200));
  }
}

export interface AgentBench {
  'agent.overhead_ms_per_step': number;
  steps: number;
  wallMs: number;
  modelMs: number;
  kernelMs: number;
  markdown: string[];
}

export async function benchAgent(): Promise<AgentBench> {
  const jupyter = await startJupyter();
  const { KernelManager } = await import('@jupyterlab/services');
  const kernels = new KernelManager({ serverSettings: await nodeServerSettings(jupyter.url, jupyter.token) });
  try {
    const kernel = await kernels.startNew({ name: 'python3' });
    let modelMs = 0;
    let kernelMs = 0;
    const host = new HostModel((p, init) =>
      fetch(`${jupyter.url}/datarus/api/${p}`, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: `token ${jupyter.token}` } })
    );
    const model: AgentModel = {
      name: host.name,
      complete: async (request, onText) => {
        const started = performance.now();
        try {
          return await host.complete(request, onText);
        } finally {
          modelMs += performance.now() - started;
        }
      },
      endEpisode: id => host.endEpisode(id)
    };
    const inner = new KernelRunner(kernel);
    const runner: CodeRunner = {
      run: async (code, context) => {
        const started = performance.now();
        try {
          return await inner.run(code, context);
        } finally {
          kernelMs += performance.now() - started;
        }
      }
    };
    const turns = [
      ...Array.from({ length: STEPS }, (_, i) => formatStep({ thought: `Look at row ${i}.`, code: `x_${i} = ${i} * 2\nprint(x_${i})` })),
      formatAnswer({ thought: 'Done.', text: 'All rows seen.' })
    ].map(t => `root ::= ${JSON.stringify(t)}`);
    // One warm-up episode: the first request pays for kernel and context start-up.
    await new AgentLoop(model, runner).run({ episodeId: 'bench-warmup', question: 'warm up', grammar: () => turns[turns.length - 1] });
    modelMs = 0;
    kernelMs = 0;
    const started = performance.now();
    const episode = await new AgentLoop(model, runner).run({ episodeId: 'bench-agent', question: 'Look at every row.', grammar: turn => turns[turn] });
    const wallMs = performance.now() - started;
    if (episode.status !== 'answered' || episode.steps.length !== STEPS) {
      throw new Error(`the forced episode did not run as scripted: ${episode.status} ${episode.reason ?? ''}`);
    }
    const turnsRun = STEPS + 1;
    const overhead = (wallMs - modelMs - kernelMs) / turnsRun;
    await kernel.shutdown();
    return {
      'agent.overhead_ms_per_step': overhead,
      steps: turnsRun,
      wallMs,
      modelMs,
      kernelMs,
      markdown: [
        '## Agent',
        '',
        `A forced ${STEPS}-step episode plus the answer turn, through a real Jupyter server (host with the fixture model,`,
        'ipykernel reached with @jupyterlab/services), the loop in Node. Model time includes the HTTP stream through',
        "Jupyter's proxy; kernel time is each execute request from send to reply.",
        '',
        '| metric | goal | value |',
        '|---|---|---|',
        `| \`agent.overhead_ms_per_step\` (wall − model − kernel, per turn) | ≤ 20 ms | ${overhead.toFixed(2)} ms |`,
        `| episode wall / model / kernel time | | ${wallMs.toFixed(0)} / ${modelMs.toFixed(0)} / ${kernelMs.toFixed(0)} ms |`,
        '| `agent.click_to_first_cell_ms` | | not measured yet: needs a browser-driven benchmark (see the Analyze issue note) |',
        ''
      ]
    };
  } finally {
    await kernels.shutdownAll().catch(() => undefined);
    kernels.dispose();
    jupyter.proc.kill('SIGTERM');
  }
}
