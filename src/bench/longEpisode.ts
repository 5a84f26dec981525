/**
 * `agent.long_episode_prefill_ratio`: what the token budget's cuts cost the KV
 * cache. A forced episode of 30 steps whose outputs together hold several
 * times the context runs through the real AgentLoop + HostModel + host +
 * ipykernel; the loop cuts observations to stay within the context, and every
 * cut makes the host evaluate the prompt again from the cut on.
 *
 * The ratio is the prompt and generated tokens the host evaluated (its `done`
 * events' `usage`) ÷ the tokens of the final prompt and reply plus the tokens
 * the cuts removed (the issue's definition: an output cut before the model
 * read it counts too, so this ratio flatters the cuts). The same figure for an episode of 15 steps that fits
 * (short outputs, no cut) stands beside it, and a stricter figure for both:
 * evaluated ÷ what no cache could have held (cut tokens the model never read
 * do not count in its favour).
 */
import type { KernelManager } from '@jupyterlab/services';

import type { WarmStart } from '../contract';
import { KernelRunner } from '../agent/kernelRunner';
import { AgentLoop } from '../agent/loop';
import type { AgentModel } from '../agent/types';
import { conversation } from '../episode/conversation';
import type { Episode } from '../episode/types';
import { ANSWER_REQUEST_WHY, formatAnswer, formatStep } from '../protocol';
import { recordingModel, Turn } from './agentPath';
import type { BenchHost } from './processes';

export const LONG_EPISODE_STEPS = 30;
/** Steps of the episode that fits: its own text fills the context too, past about 20 of the fixture's steps. */
export const FITTING_STEPS = 15;

const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;

/**
 * The forced steps: the first defines `part(k)`, which prints a numbered table
 * of `rows` lines (about 16 characters each) headed "part k"; each step prints
 * the next part.
 */
function forcedSteps(steps: number, rows: number): string[] {
  const define = `def part(k):\n    print(f'part {k}')\n    print('\\n'.join(f'{i:4d} {i * k:10d}' for i in range(${rows})))`;
  return Array.from({ length: steps }, (_, i) =>
    exactly(formatStep({ thought: `Print part ${i + 1}.`, code: i === 0 ? `${define}\npart(1)` : `part(${i + 1})` }))
  );
}

const ANSWER = exactly(formatAnswer({ thought: 'The parts were printed.', text: 'Every part was printed.' }));

export interface EpisodeFigures {
  /** Rows each step printed (about 16 characters each). */
  rows: number;
  status: string;
  reason: string | null;
  steps: number;
  answerAsked: string | null;
  cuts: number;
  stepsCut: number;
  turns: number;
  /** Prompt and generated tokens the host evaluated, over every turn. */
  evaluatedTokens: number;
  finalPromptTokens: number;
  finalCompletionTokens: number;
  /** Tokens the cuts removed from the final prompt (the uncut conversation's count minus the final prompt's). */
  cutTokens: number;
  ratio: number;
  /** Tokens no cache could have held (see `runForced`), and the evaluated tokens per such token. */
  freshTokens: number;
  evaluatedPerFresh: number;
  /** Prompt tokens evaluated per turn, and the prompt's size. */
  perTurn: Array<{ evaluated: number; prompt: number; completion: number; stopReason: string | null; warmStart: WarmStart | null }>;
}

/** The forced episode's turns, recorded from the host's `done` events, with the ratio's parts. */
async function runForced(host: BenchHost, kernels: KernelManager, episodeId: string, { steps, rows, maxTokens }: { steps: number; rows: number; maxTokens: number }): Promise<EpisodeFigures> {
  const turns: Turn[] = [];
  const inner = recordingModel(host, turns);
  const grammars = forcedSteps(steps, rows);
  let next = 0;
  const model: AgentModel = {
    name: inner.name,
    countTokens: (id, messages) => inner.countTokens(id, messages),
    complete: (request, onText) => {
      const asked = request.messages[request.messages.length - 1].content.includes(ANSWER_REQUEST_WHY.context);
      const grammar = asked || next >= grammars.length ? ANSWER : grammars[next++];
      return inner.complete({ ...request, grammar }, onText);
    },
    endEpisode: id => inner.endEpisode(id)
  };
  const kernel = await kernels.startNew({ name: 'python3' });
  let episode: Episode;
  try {
    episode = await new AgentLoop(model, new KernelRunner(kernel)).run({
      episodeId,
      question: `Print the ${steps} parts, then say whether all were printed.`,
      limits: { maxSteps: steps + 1, maxTokensPerTurn: maxTokens }
    });
  } finally {
    await kernel.shutdown();
  }
  await new Promise(r => setTimeout(r, 200)); // the recorded copies of the streams finish reading
  const count = async (messages: ReturnType<typeof conversation>) => {
    const response = await host.request('tokens', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ messages }) });
    return ((await response.json()) as { tokens: number }).tokens;
  };
  const last = turns[turns.length - 1].usage;
  const finalTokens = await count(conversation(episode));
  const uncutTokens = await count(conversation({ ...episode, observationCuts: [] }));
  const evaluatedTokens = turns.reduce((sum, t) => sum + t.usage.evaluatedPromptTokens + t.usage.completionTokens, 0);
  const cutTokens = uncutTokens - finalTokens;
  // What no cache could have held: each prompt's messages that the previous prompt did not have (the reply inside
  // the new assistant message, a new output, an output as a cut left it): the prompt's tokens less those of the
  // messages it kept, as the host counts them.
  let freshTokens = last.completionTokens;
  for (const [k, t] of turns.entries()) {
    const before = new Set(k === 0 ? [] : turns[k - 1].messages.map(m => `${m.role}\n${m.content}`));
    const kept = t.messages.filter(m => before.has(`${m.role}\n${m.content}`));
    freshTokens += t.usage.promptTokens - (kept.length === 0 ? 0 : await count(kept));
  }
  return {
    rows,
    status: episode.status,
    reason: episode.reason ?? null,
    steps: episode.steps.length,
    answerAsked: episode.answerRequest?.reason ?? null,
    cuts: episode.observationCuts?.length ?? 0,
    stepsCut: new Set((episode.observationCuts ?? []).map(c => c.step)).size,
    turns: turns.length,
    evaluatedTokens,
    finalPromptTokens: last.promptTokens,
    finalCompletionTokens: last.completionTokens,
    cutTokens,
    ratio: evaluatedTokens / (last.promptTokens + last.completionTokens + cutTokens),
    freshTokens: Math.round(freshTokens),
    evaluatedPerFresh: evaluatedTokens / freshTokens,
    perTurn: turns.map(t => ({ evaluated: t.usage.evaluatedPromptTokens, prompt: t.usage.promptTokens, completion: t.usage.completionTokens, stopReason: t.stopReason ?? null, warmStart: t.warmStart ?? null }))
  };
}

export interface LongEpisodeBench {
  model: string;
  contextSize: number;
  'agent.long_episode_prefill_ratio': number;
  long: EpisodeFigures;
  fitting: EpisodeFigures;
}

/**
 * Both episodes on `host` (its context as loaded): the long one prints `rows`
 * rows a step, the fitting one a single row.
 */
export async function benchLongEpisode(
  host: BenchHost,
  kernels: KernelManager,
  { model, contextSize, rows, maxTokens }: { model: string; contextSize: number; rows: number; maxTokens: number }
): Promise<LongEpisodeBench> {
  const fitting = await runForced(host, kernels, 'long-episode-fitting', { steps: FITTING_STEPS, rows: 1, maxTokens });
  const long = await runForced(host, kernels, 'long-episode-cut', { steps: LONG_EPISODE_STEPS, rows, maxTokens });
  for (const [name, figures] of [['long', long], ['fitting', fitting]] as const) {
    if (figures.status !== 'answered') {
      const last = JSON.stringify(figures.perTurn.slice(-3));
      throw new Error(`the ${name} episode did not answer: ${figures.status} after ${figures.steps} steps: ${figures.reason}; its last turns: ${last}`);
    }
  }
  if (fitting.cuts > 0 || fitting.answerAsked || long.cuts === 0) {
    throw new Error(`the fitting episode made ${fitting.cuts} cuts and the long one ${long.cuts}: the sizes do not test what they should`);
  }
  return { model, contextSize, 'agent.long_episode_prefill_ratio': long.ratio, long, fitting };
}

export function longEpisodeMarkdown(runs: LongEpisodeBench[]): string[] {
  const cell = (f: (r: LongEpisodeBench) => string) => runs.map(f).join(' | ');
  const describe = (e: EpisodeFigures) =>
    `${e.steps} steps${e.answerAsked ? ` (answer asked: ${e.answerAsked})` : ''}, ${e.cuts} cuts of ${e.stepsCut} steps; ` +
    `${e.evaluatedTokens} evaluated ÷ (${e.finalPromptTokens} + ${e.finalCompletionTokens} final + ${e.cutTokens} cut)`;
  return [
    '| metric | goal | ' + runs.map(r => `${r.model} (${r.contextSize.toLocaleString('en-US')}-token context)`).join(' | ') + ' |',
    '|---|---|' + runs.map(() => '---|').join(''),
    `| \`agent.long_episode_prefill_ratio\` (${LONG_EPISODE_STEPS} steps that need cuts) | ≤ 1.3 | ${cell(r => r.long.ratio.toFixed(3))} |`,
    `| the same ratio, ${FITTING_STEPS} steps that fit (no cut, the model answers by itself) | | ${cell(r => r.fitting.ratio.toFixed(3))} |`,
    `| stricter: tokens evaluated ÷ tokens no cache could have held (long / fitting) | | ${cell(r => `${r.long.evaluatedPerFresh.toFixed(3)} / ${r.fitting.evaluatedPerFresh.toFixed(3)}`)} |`,
    `| the long episode | | ${cell(r => describe(r.long))} |`,
    `| the fitting episode | | ${cell(r => describe(r.fitting))} |`,
    `| prompt tokens evaluated / in the prompt, per turn (long episode) | | ${cell(r => r.long.perTurn.map(t => `${t.evaluated}/${t.prompt}`).join(', '))} |`
  ];
}
