/**
 * Agent benchmark: the loop's own cost per step, apart from the model and the
 * kernel. A real Jupyter server runs the host (fixture model, forced by
 * grammars into a fixed episode) and a real ipykernel; the model and the runner
 * are wrapped with timers, and what is left of the wall time is the loop's.
 * The loop runs as headless runs do: each step is checked by the code policy in
 * the kernel first (timed on its own) and approved as `--approve risky` would.
 */
import { kernelPolicy } from '../agent/codePolicy';
import { HostModel } from '../agent/hostModel';
import { KernelRunner } from '../agent/kernelRunner';
import { AgentLoop } from '../agent/loop';
import type { AgentModel, CodeRunner } from '../agent/types';
import { DEFAULT_APPROVE_MODE, headlessApproval } from '../headless/approval';
import { nodeServerSettings } from '../headless/serverSettings';
import { formatAnswer, formatStep } from '../protocol';
import { JupyterProcess, sleep, spawnJupyter } from './processes';

const STEPS = 8;

/** A Jupyter server with the extension, whose Datarus host has the fixture model loaded. */
async function startJupyter(): Promise<JupyterProcess> {
  const jupyter = await spawnJupyter('server', { env: { DATARUS_MODEL: 'datarus-test-tiny' } });
  const deadline = Date.now() + 120000;
  for (;;) {
    const status = await fetch(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } })
      .then(r => (r.ok ? (r.json() as Promise<{ state?: string }>) : null))
      .catch(() => null);
    if (status?.state === 'ready') {
      return jupyter;
    }
    if (Date.now() > deadline) {
      jupyter.stop();
      throw new Error('Jupyter with the Datarus host did not become ready');
    }
    await sleep(200);
  }
}

export interface AgentBench {
  'agent.overhead_ms_per_step': number;
  steps: number;
  wallMs: number;
  modelMs: number;
  kernelMs: number;
  /** The code policy's silent evaluations in the kernel, before each step. */
  policyMs: number;
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
    // The policy's check is a silent evaluation in the same kernel: timed apart from the loop and the steps.
    let policyMs = 0;
    const policy = kernelPolicy(async expression => {
      const started = performance.now();
      try {
        return await inner.inspect(expression);
      } finally {
        policyMs += performance.now() - started;
      }
    });
    const run = { policy, hooks: { approve: headlessApproval(DEFAULT_APPROVE_MODE) } };
    const turns = [
      ...Array.from({ length: STEPS }, (_, i) => formatStep({ thought: `Look at row ${i}.`, code: `x_${i} = ${i} * 2\nprint(x_${i})` })),
      formatAnswer({ thought: 'Done.', text: 'All rows seen.' })
    ].map(t => `root ::= ${JSON.stringify(t)}`);
    // One warm-up episode: the first request pays for kernel and context start-up.
    await new AgentLoop(model, runner).run({ ...run, episodeId: 'bench-warmup', question: 'warm up', grammar: () => turns[turns.length - 1] });
    modelMs = 0;
    kernelMs = 0;
    policyMs = 0;
    const started = performance.now();
    const episode = await new AgentLoop(model, runner).run({ ...run, episodeId: 'bench-agent', question: 'Look at every row.', grammar: turn => turns[turn] });
    const wallMs = performance.now() - started;
    if (episode.status !== 'answered' || episode.steps.length !== STEPS || episode.steps.some(s => s.status !== 'ok')) {
      throw new Error(`the forced episode did not run as scripted: ${episode.status} ${episode.reason ?? ''}`);
    }
    const turnsRun = STEPS + 1;
    const overhead = (wallMs - modelMs - kernelMs - policyMs) / turnsRun;
    await kernel.shutdown();
    return {
      'agent.overhead_ms_per_step': overhead,
      steps: turnsRun,
      wallMs,
      modelMs,
      kernelMs,
      policyMs,
      markdown: [
        '## Agent',
        '',
        `A forced ${STEPS}-step episode plus the answer turn, through a real Jupyter server (host with the fixture model,`,
        'ipykernel reached with @jupyterlab/services), the loop in Node. Model time includes the HTTP stream through',
        "Jupyter's proxy; kernel time is each execute request from send to reply; policy time is the code policy's silent",
        'evaluation in the kernel before each step (the loop runs as `datarus run --approve risky` does).',
        '',
        '| metric | goal | value |',
        '|---|---|---|',
        `| \`agent.overhead_ms_per_step\` (wall − model − kernel − policy, per turn) | ≤ 20 ms | ${overhead.toFixed(2)} ms |`,
        `| episode wall / model / kernel / policy time | | ${wallMs.toFixed(0)} / ${modelMs.toFixed(0)} / ${kernelMs.toFixed(0)} / ${policyMs.toFixed(0)} ms |`,
        `| policy check per step | | ${(policyMs / STEPS).toFixed(1)} ms |`,
        '| `agent.click_to_first_cell_ms` | | not measured yet: needs a browser-driven benchmark (see the Analyze issue note) |',
        ''
      ]
    };
  } finally {
    await kernels.shutdownAll().catch(() => undefined);
    kernels.dispose();
    jupyter.stop();
  }
}
