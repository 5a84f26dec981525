/**
 * The agent loop on the real path: the fixture GGUF in the real host (under a
 * real Jupyter server), forced by a grammar into a two-step episode, running
 * code in a real ipykernel reached through @jupyterlab/services.
 */
import { KernelManager } from '@jupyterlab/services';

import { HostModel } from '../../src/agent/hostModel';
import { KernelRunner } from '../../src/agent/kernelRunner';
import { AgentLoop } from '../../src/agent/loop';
import { AgentModel, ModelTurnRequest } from '../../src/agent/types';
import { formatAnswer, formatStep } from '../../src/protocol';
import { getJson, RunningJupyter, startJupyterWithKernels, stopJupyterWithKernels, waitForStatus } from './processes';

jest.setTimeout(400000);

const CODE = "import pandas as pd; df = pd.DataFrame({'x': [1, 2, 3]}); print(df.x.sum())";
const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;

describe('Analyze on the real path', () => {
  let jupyter: RunningJupyter;
  let kernels: KernelManager;

  beforeAll(async () => {
    ({ jupyter, kernels } = await startJupyterWithKernels());
  });

  afterAll(() => stopJupyterWithKernels(jupyter, kernels));

  const hostModel = () =>
    new HostModel((path, init) =>
      fetch(`${jupyter.url}/datarus/api/${path}`, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), Authorization: `token ${jupyter.token}` }
      })
    , 'datarus-test-tiny');

  it('runs a forced two-step episode: the observation fed back is exactly 6, and the answer is recorded', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    const requests: ModelTurnRequest[] = [];
    const inner = hostModel();
    const model: AgentModel = {
      name: inner.name,
      complete: (request, onText) => {
        requests.push(request);
        return inner.complete(request, onText);
      },
      endEpisode: id => inner.endEpisode(id)
    };
    const turns = [
      exactly(formatStep({ thought: 'Build the frame and sum x.', code: CODE })),
      exactly(formatAnswer({ thought: 'The printed sum is 6.', text: 'The sum of x is 6.' }))
    ];
    const streamed: string[] = [];
    const episode = await new AgentLoop(model, new KernelRunner(kernel)).run({
      episodeId: 'agent-it-1',
      question: 'What is the sum of x?',
      grammar: turn => turns[turn],
      hooks: { onText: (_s, text) => streamed.push(text) }
    });

    expect(episode.status).toBe('answered');
    expect(episode.steps).toHaveLength(1);
    expect(episode.steps[0]).toMatchObject({ status: 'ok', code: CODE, observation: '6', violations: [] });
    expect(episode.answer).toEqual({ thought: 'The printed sum is 6.', text: 'The sum of x is 6.' });
    expect(streamed.length).toBeGreaterThan(10);
    // What the model was given back for its second turn: the step and the observation `6`.
    const fed = requests[1].messages[2].content;
    expect(fed.endsWith('</step>\n<observation>\n6\n</observation>')).toBe(true);
    expect(requests[1].messages[3].content).toBe('Continue with the analysis.');

    // The code ran in the live kernel: its state is there for the user.
    const future = kernel.requestExecute({ code: 'print(df.shape)' });
    let text = '';
    future.onIOPub = msg => {
      if (msg.header.msg_type === 'stream') {
        text += (msg.content as any).text;
      }
    };
    await future.done;
    expect(text.trim()).toBe('(3, 1)');
    await kernel.shutdown();
  });

  it('records a traceback without ANSI escapes and interrupts a cell past its time limit', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    const runner = new KernelRunner(kernel);
    const signal = new AbortController().signal;
    const failed = await runner.run('1/0', { episodeId: 'e', step: 0, signal, timeoutMs: 30000, metadata: {} });
    expect(failed.status).toBe('error');
    expect(failed.outputs[0]).toMatchObject({ output_type: 'error', ename: 'ZeroDivisionError' });
    // The limit counts from the request, so it leaves a loaded machine time to print before the interrupt.
    const slow = await runner.run('import time\nprint("start", flush=True)\ntime.sleep(60)', { episodeId: 'e', step: 1, signal, timeoutMs: 6000, metadata: {} });
    expect(slow.status).toBe('timeout');
    expect(slow.durationMs).toBeLessThan(30000);
    expect(slow.outputs.map(o => o.ename ?? o.text)).toEqual(['start\n', 'KeyboardInterrupt']);
    const after = await runner.run('print("alive")', { episodeId: 'e', step: 2, signal, timeoutMs: 30000, metadata: {} });
    expect(after.outputs[0].text).toBe('alive\n');
    await kernel.shutdown();
  });

  it('ends the episode cleanly when the kernel dies mid-step', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    const model: AgentModel = hostModel();
    const episode = await new AgentLoop(model, new KernelRunner(kernel)).run({
      episodeId: 'agent-it-dead',
      question: 'Crash it.',
      grammar: exactly(formatStep({ thought: 'Exit.', code: 'import os; os._exit(1)' })),
      limits: { maxSteps: 2, cellTimeoutMs: 20000 }
    });
    expect(episode.status).toBe('failed');
    expect(episode.reason).toMatch(/kernel died or restarted/);
    expect(episode.steps).toHaveLength(1);
    expect(episode.steps[0].status).toBe('error');
    // The server restarts the dead kernel and @jupyterlab/services reconnects in a promise of its own that
    // rejects if the connection is disposed first: let it settle before shutting the kernel down.
    for (let i = 0; i < 600 && (kernel.connectionStatus !== 'connected' || kernel.status === 'autorestarting'); i++) {
      await new Promise(r => setTimeout(r, 100));
    }
    await kernel.shutdown().catch(() => undefined);
  });

  // Last: it kills this server's host (the server starts a new one on the next request).
  it('ends the episode as failed, with a clear reason, when the host dies mid-turn; the next episode works', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    const status = () => getJson(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } });
    const pid = (await waitForStatus(status, s => s.state === 'ready')).pid as number;
    const inner = hostModel();
    let killed = false;
    const model: AgentModel = {
      name: inner.name,
      // Kill the host (by the pid it reports for itself) as soon as the turn has started streaming.
      complete: (request, onText) =>
        inner.complete(request, text => {
          if (!killed) {
            killed = true;
            process.kill(pid, 'SIGKILL');
          }
          onText(text);
        }),
      endEpisode: id => inner.endEpisode(id)
    };
    const runner = new KernelRunner(kernel);
    const episode = await new AgentLoop(model, runner).run({
      episodeId: 'agent-it-host-dies',
      question: 'Talk forever.',
      grammar: 'root ::= "a" root',
      limits: { maxSteps: 2, maxTokensPerTurn: 3000 }
    });
    expect(killed).toBe(true);
    expect(episode.status).toBe('failed');
    expect(episode.reason).toMatch(/the model host (stopped answering mid-turn|failed mid-turn|ended the stream without a result)/);
    expect(episode.steps.filter(s => s.status !== 'invalid')).toEqual([]);
    // The server starts a new host, and a new episode answers.
    const restarted = await waitForStatus(status, s => s.state === 'ready');
    expect(restarted.pid).not.toBe(pid);
    const again = await new AgentLoop(hostModel(), runner).run({
      episodeId: 'agent-it-after-host-death',
      question: 'Answer.',
      grammar: exactly(formatAnswer({ thought: 'Back.', text: 'Still here.' }))
    });
    expect(again.status).toBe('answered');
    expect(again.answer?.text).toBe('Still here.');
    await kernel.shutdown();
  });
});
