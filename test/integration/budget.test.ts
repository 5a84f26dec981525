/**
 * The token budget on the real path: the fixture GGUF (one token a byte) in
 * the real host at a 2,048-token context, under a real Jupyter server, forced
 * by grammars into 8 steps that each print about 1,500 characters in a real
 * ipykernel. Without the budget the host refuses the prompt mid-episode (the
 * bug); with it the host counts each prompt, the loop cuts the oldest outputs
 * and asks for the answer when nothing more fits, and every prompt rebuilds
 * from the episode to its recorded hash.
 */
import { KernelManager } from '@jupyterlab/services';

import { replyReserve } from '../../src/agent/budget';
import { HostModel } from '../../src/agent/hostModel';
import { KernelRunner } from '../../src/agent/kernelRunner';
import { AgentLoop } from '../../src/agent/loop';
import { AgentModel, ModelTurnRequest, PromptCount } from '../../src/agent/types';
import { conversation, promptSha256 } from '../../src/episode/conversation';
import { shortenedNote } from '../../src/episode/cuts';
import type { Episode } from '../../src/episode/types';
import { ANSWER_REQUEST_WHY, formatAnswer, formatStep } from '../../src/protocol';
import { getJson, RunningJupyter, startJupyterWithKernels, stopJupyterWithKernels, waitForStatus } from './processes';

jest.setTimeout(600000);

const CONTEXT = 2048;
const MAX_TOKENS = 256;
const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;
/** About 1,500 characters: a numbered table whose first line names the part. */
const part = (k: number) => `print(f'part ${k}'); print('\\n'.join(f'{i:4d} {i * ${k}:10d}' for i in range(95)))`;
const STEPS = Array.from({ length: 8 }, (_, i) => exactly(formatStep({ thought: `Print part ${i + 1}.`, code: part(i + 1) })));
const ANSWER = exactly(formatAnswer({ thought: 'The parts were printed.', text: 'Every part was printed.' }));

describe('the token budget on the real host and kernel', () => {
  let jupyter: RunningJupyter;
  let kernels: KernelManager;
  const auth = () => ({ Authorization: `token ${jupyter.token}` });

  beforeAll(async () => {
    ({ jupyter, kernels } = await startJupyterWithKernels());
    const loaded = await getJson(`${jupyter.url}/datarus/api/models/load`, {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'datarus-test-tiny', contextSize: CONTEXT })
    });
    expect(loaded.status).toBe(200);
    await waitForStatus(() => getJson(`${jupyter.url}/datarus/api/status`, { headers: auth() }), s => s.state === 'ready' && s.contextSize === CONTEXT);
  });

  afterAll(() => stopJupyterWithKernels(jupyter, kernels));

  /**
   * The host's model with the forced turns: the steps in order, and the answer
   * when the loop asks for it (the fixture's random weights decide nothing).
   * `counting: false` hides the host's count, as before the budget.
   */
  const forcedModel = (counting: boolean) => {
    const host = new HostModel((path, init) => fetch(`${jupyter.url}/datarus/api/${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), ...auth() } }), 'datarus-test-tiny');
    const requests: ModelTurnRequest[] = [];
    const counts: PromptCount[] = [];
    /** The host's count of each prompt sent. */
    const sent: number[] = [];
    let steps = 0;
    const model: AgentModel = {
      name: host.name,
      ...(counting
        ? {
            countTokens: async (id, messages) => {
              const count = await host.countTokens(id, messages);
              if (count) {
                counts.push(count);
              }
              return count;
            }
          }
        : {}),
      complete: async (request, onText) => {
        requests.push(request);
        sent.push((await host.countTokens(request.episodeId, request.messages))!.tokens);
        const asked = request.messages[request.messages.length - 1].content.includes(ANSWER_REQUEST_WHY.context);
        const grammar = asked || steps >= STEPS.length ? ANSWER : STEPS[steps++];
        return host.complete({ ...request, grammar }, onText);
      },
      endEpisode: id => host.endEpisode(id)
    };
    return { model, requests, counts, sent };
  };

  const run = async (model: AgentModel, episodeId: string): Promise<Episode> => {
    const kernel = await kernels.startNew({ name: 'python3' });
    try {
      return await new AgentLoop(model, new KernelRunner(kernel)).run({ episodeId, question: 'Print the eight parts, then say whether all were printed.', limits: { maxTokensPerTurn: MAX_TOKENS } });
    } finally {
      await kernel.shutdown();
    }
  };

  it('without a count the same episode dies on the context limit (the bug this budget fixes)', async () => {
    const { model } = forcedModel(false);
    const episode = await run(model, 'budget-it-uncounted');
    expect(episode.status).toBe('failed');
    expect(episode.reason).toMatch(/the prompt is \d+ tokens and the context holds 2048/);
  });

  it('with the host counting, the long episode answers; cuts are recorded and every prompt rebuilds to its hash', async () => {
    const { model, requests, counts, sent } = forcedModel(true);
    const episode = await run(model, 'budget-it-counted');

    expect([episode.status, episode.reason]).toEqual(['answered', undefined]);
    expect(episode.steps.every(s => s.status === 'ok')).toBe(true);
    expect(episode.steps[0].observation.length).toBeGreaterThan(1400);
    // Every step ran, or the loop asked for the answer because the context was full.
    expect(episode.steps.length === 8 || episode.answerRequest?.reason === 'context').toBe(true);
    expect(episode.observationCuts!.length).toBeGreaterThan(0);
    // The host counted each prompt, and each fitted with the reply's reserve.
    expect(counts.length).toBeGreaterThanOrEqual(requests.length);
    expect(counts.every(c => c.contextSize === CONTEXT)).toBe(true);
    // As the host counted them when they were sent: every step's prompt fitted with the reply's reserve, and
    // the answer turn (whose reply may be smaller) with the reply it was allowed.
    sent.forEach((tokens, k) => {
      const reply = k < episode.steps.length ? replyReserve(MAX_TOKENS, CONTEXT) : requests[k].maxTokens!;
      expect(tokens + 1 + reply).toBeLessThanOrEqual(CONTEXT);
    });
    // Each turn's prompt is what the loop sent, and it rebuilds from the logged episode.
    const logged: Episode = JSON.parse(JSON.stringify(episode));
    requests.forEach((request, k) => {
      expect(conversation(logged, k)).toEqual(request.messages);
      const recorded = k < logged.steps.length ? logged.steps[k].promptSha256 : logged.answerPromptSha256;
      expect(promptSha256(conversation(logged, k))).toBe(recorded);
    });
    // The host's own count of the final prompt (the answer turn) leaves room for an answer.
    const final = await getJson(`${jupyter.url}/datarus/api/tokens`, {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: conversation(logged) })
    });
    expect(final.status).toBe(200);
    expect(final.body.contextSize).toBe(CONTEXT);
    expect(final.body.tokens + 1 + 64).toBeLessThanOrEqual(CONTEXT);
    expect(shortenedNote(episode)).toMatch(/^the outputs of \d steps? were shortened to fit the model's context/);
    // eslint-disable-next-line no-console
    console.log(`budget: ${episode.steps.length} steps, prompts ${sent.join(', ')} tokens, ${episode.observationCuts!.length} cuts, answer asked: ${episode.answerRequest?.reason ?? 'no'}`);
  });
});
