/**
 * Warm starts through a running host (`bench:warmstart`, and `bench:gpu`):
 *
 * - `host.ttft_fresh_vs_new_step`: time to first token of a new episode (the
 *   profile's system prompt and a new question) ÷ that of a new step in a
 *   running episode, with the prompt cache; the same for a cold new episode
 *   (a system prompt no earlier request shared) beside it.
 * - `rollouts.group_prefill_ratio`: G new episodes with one new prompt sent at
 *   once: prompt tokens evaluated for the group ÷ the prompt tokens of one.
 * - decode tokens/s of warm and cold new episodes (the mechanism's cost, if any),
 *   and the milliseconds per token of saving and loading states.
 *
 * The host needs `--max-episodes` ≥ G. Prompts are the first turns of a prompt
 * profile (src/episode/conversation.ts); turns are forced with a grammar so that
 * every run writes the same tokens.
 */
import { randomBytes } from 'node:crypto';

import { conversation } from '../episode/conversation';
import { formatObservation, formatStep } from '../protocol';
import { streamGenerate, TimedStream } from './util';

interface Host {
  url: string;
  token: string;
}

export interface WarmStartOptions {
  /** Prompt profile of the first turns (its system prompt is what new episodes share). */
  profile: string;
  /** Steps of the running episode; the first is a new episode, the rest are timed as new steps. */
  steps?: number;
  /** New episodes timed each way. */
  newEpisodes?: number;
  /** Episodes of the group sent at once. */
  groupSize?: number;
}

export interface WarmStartBench {
  profile: string;
  promptTokens: number;
  ttftNewStepMs: number;
  ttftNewStepRuns: number[];
  ttftNewEpisodeWarmMs: number;
  ttftNewEpisodeWarmRuns: number[];
  ttftNewEpisodeColdMs: number;
  ttftNewEpisodeColdRuns: number[];
  'host.ttft_fresh_vs_new_step': number;
  /** The same ratio for cold new episodes (what it was without the cache). */
  ttftColdVsNewStep: number;
  decodeTokensPerSecond: { warm: number; cold: number };
  'host.warm_vs_cold_decode': number;
  group: {
    size: number;
    promptTokens: number;
    evaluatedPromptTokens: number[];
    loadedFromGroupState: number;
    wallMs: number;
    ttftMs: number[];
    /** What the host did for each member (the `done` event's warmStart: reused, loaded, evaluated, waitedMs…). */
    warmStarts: unknown[];
  };
  'rollouts.group_prefill_ratio': number;
  stateCosts: { saveMsPerToken: number | null; loadMsPerToken: number | null; bytesPerToken: number | null; saves: number; loads: number };
  /** The host's prompt-state policy at the end (`/api/status` → episodes.promptCache.policy): its estimates and decisions. */
  policy: unknown;
}

const QUESTIONS = [
  'What is the mean of column x in sales.csv?',
  'Which region sold the most units in 2023?',
  'How many rows of orders.csv have a missing price?',
  'What is the median delivery time per carrier?',
  'Plot the number of orders per month.',
  'Which product has the highest margin?',
  'Are there duplicate order ids in orders.csv?'
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

type Message = { role: string; content: string };

function firstTurn(profile: string, question: string, systemPrefix = ''): Message[] {
  const [system, user] = conversation({ question, context: undefined, promptProfile: profile, steps: [] });
  return [{ role: 'system', content: systemPrefix + system.content }, user];
}

/** A turn forced by a grammar whose only sentence is the step's text. */
function stepBody(index: number): { grammar: string; stop: string[]; maxTokens: number; temperature: number } {
  const step = formatStep({ thought: `Step ${index}: look at the data.`, code: `import pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(df.describe().iloc[:, ${index % 4}])` });
  return { grammar: `root ::= ${JSON.stringify(step)}`, stop: ['</step>'], maxTokens: 200, temperature: 0 };
}

export async function benchWarmStart(host: Host, options: WarmStartOptions): Promise<WarmStartBench> {
  const steps = options.steps ?? 5;
  const newEpisodes = options.newEpisodes ?? 3;
  const groupSize = options.groupSize ?? 8;
  const run = randomBytes(4).toString('hex');
  const before = (await status(host)).episodes?.promptCache;
  const generate = (episodeId: string, messages: Message[], index: number, t0?: number): Promise<TimedStream> =>
    streamGenerate(host, { episodeId, messages, ...stepBody(index) }, t0);

  // A running episode: its first turn saves the system prompt's state; steps 2… are the new steps.
  const episode = `ws-${run}-running`;
  const messages = firstTurn(options.profile, QUESTIONS[0]);
  const newSteps: number[] = [];
  let promptTokens = 0;
  for (let i = 0; i < steps; i++) {
    const timed = await generate(episode, messages, i);
    if (i === 0) {
      promptTokens = timed.done.usage.promptTokens;
    } else {
      newSteps.push(timed.firstMs);
    }
    messages.push({ role: 'assistant', content: timed.done.text + (timed.done.stopString ?? '') });
    messages.push({ role: 'user', content: `${formatObservation(`count 100\nmean ${i}.5\nstd 2.1`)}\nContinue with the analysis.` });
  }
  await end(host, episode);

  // New episodes, warm (the profile's system prompt, a new question) and cold (a system prompt whose first line is random, so nobody shared it), interleaved.
  const warm: TimedStream[] = [];
  const cold: TimedStream[] = [];
  for (let i = 0; i < newEpisodes; i++) {
    const question = QUESTIONS[1 + (i % (QUESTIONS.length - 1))];
    const warmId = `ws-${run}-warm-${i}`;
    warm.push(await generate(warmId, firstTurn(options.profile, question), 0));
    await end(host, warmId);
    const coldId = `ws-${run}-cold-${i}`;
    cold.push(await generate(coldId, firstTurn(options.profile, question, `${randomBytes(6).toString('hex')}\n`), 0));
    await end(host, coldId);
  }

  // A group: G new episodes with one prompt nobody shared before, sent at once.
  const groupMessages = firstTurn(options.profile, 'Summarise the columns of sales.csv.', `${randomBytes(6).toString('hex')}\n`);
  const t0 = performance.now();
  // A few tokens each: the group measures the shared prefill, not decoding.
  const members = await Promise.all(
    Array.from({ length: groupSize }, (_, i) => streamGenerate(host, { episodeId: `ws-${run}-group-${i}`, messages: groupMessages, ...stepBody(0), maxTokens: 4 }, t0))
  );
  const wallMs = Math.max(...members.map(m => m.lastMs));
  for (let i = 0; i < groupSize; i++) {
    await end(host, `ws-${run}-group-${i}`);
  }
  const groupPrompt = members[0].done.usage.promptTokens;
  const evaluated = members.map(m => m.done.usage.evaluatedPromptTokens as number);

  const after = (await status(host)).episodes?.promptCache;
  const delta = (key: string) => (after && before ? after[key] - before[key] : after ? after[key] : 0);
  const loadedTokens = delta('loadedTokens');
  const saves = delta('saves');
  const ttftNewStepMs = median(newSteps);
  const warmMs = median(warm.map(w => w.firstMs));
  const coldMs = median(cold.map(c => c.firstMs));
  const warmDecode = median(warm.map(w => w.tokensPerSecond));
  const coldDecode = median(cold.map(c => c.tokensPerSecond));
  return {
    profile: options.profile,
    promptTokens,
    ttftNewStepMs,
    ttftNewStepRuns: newSteps,
    ttftNewEpisodeWarmMs: warmMs,
    ttftNewEpisodeWarmRuns: warm.map(w => w.firstMs),
    ttftNewEpisodeColdMs: coldMs,
    ttftNewEpisodeColdRuns: cold.map(c => c.firstMs),
    'host.ttft_fresh_vs_new_step': warmMs / ttftNewStepMs,
    ttftColdVsNewStep: coldMs / ttftNewStepMs,
    decodeTokensPerSecond: { warm: warmDecode, cold: coldDecode },
    'host.warm_vs_cold_decode': warmDecode / coldDecode,
    group: {
      size: groupSize,
      promptTokens: groupPrompt,
      evaluatedPromptTokens: evaluated,
      // The whole prompt but its last token (evaluated with the first sample), BOS included where the model has one.
      loadedFromGroupState: members.filter(m => (m.done.warmStart?.loaded ?? 0) >= groupPrompt - 1).length,
      wallMs,
      ttftMs: members.map(m => m.firstMs),
      warmStarts: members.map(m => m.done.warmStart ?? null)
    },
    'rollouts.group_prefill_ratio': evaluated.reduce((a, b) => a + b, 0) / groupPrompt,
    stateCosts: {
      saveMsPerToken: delta('savedTokens') > 0 ? delta('saveMs') / delta('savedTokens') : null,
      loadMsPerToken: loadedTokens > 0 ? delta('loadMs') / loadedTokens : null,
      bytesPerToken: after?.entries > 0 ? after.bytes / after.tokens : null,
      saves,
      loads: delta('loads')
    },
    policy: after?.policy ?? null
  };
}

async function status(host: Host): Promise<any> {
  const response = await fetch(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${host.token}` } });
  return response.json();
}

async function end(host: Host, episodeId: string): Promise<void> {
  await fetch(`${host.url}/api/episodes/${episodeId}`, { method: 'DELETE', headers: { Authorization: `Bearer ${host.token}` } });
}

/** The markdown rows of one or more runs (one column each). */
export function warmStartMarkdown(runs: { label: string; result: WarmStartBench }[]): string[] {
  const f = (n: number | null | undefined, d = 2) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(d));
  const cols = (pick: (r: WarmStartBench) => string) => runs.map(r => pick(r.result)).join(' | ');
  return [
    `| metric | goal | ${runs.map(r => r.label).join(' | ')} |`,
    `|---|---|${runs.map(() => '---|').join('')}`,
    `| prompt profile; first-turn prompt tokens | | ${cols(r => `${r.profile}; ${r.promptTokens}`)} |`,
    `| \`host.ttft_fresh_vs_new_step\` (new episode, warm ÷ new step) | ≤ 1.5 | ${cols(r => f(r['host.ttft_fresh_vs_new_step']))} |`,
    `| the same for a cold new episode (what it was without the prompt cache) | | ${cols(r => f(r.ttftColdVsNewStep))} |`,
    `| time to first token: new step / new episode warm / cold (median, ms) | | ${cols(r => `${f(r.ttftNewStepMs, 0)} / ${f(r.ttftNewEpisodeWarmMs, 0)} / ${f(r.ttftNewEpisodeColdMs, 0)}`)} |`,
    `| \`rollouts.group_prefill_ratio\` (G new episodes, one new prompt, at once) | ≤ 1.1 | ${cols(r => `${f(r['rollouts.group_prefill_ratio'], 3)} (G = ${r.group.size}; ${r.group.loadedFromGroupState} loaded the group's state)`)} |`,
    `| the same without sharing (each member evaluates the prompt) | | ${cols(r => f(r.group.size, 1))} |`,
    `| decode tokens/s of new episodes: warm / cold (\`host.warm_vs_cold_decode\`) | | ${cols(r => `${f(r.decodeTokensPerSecond.warm, 1)} / ${f(r.decodeTokensPerSecond.cold, 1)} (${f(r['host.warm_vs_cold_decode'])})`)} |`,
    `| saving / loading a state, ms per token (saves, loads; KiB per token) | | ${cols(r => `${f(r.stateCosts.saveMsPerToken, 4)} / ${f(r.stateCosts.loadMsPerToken, 4)} (${r.stateCosts.saves}, ${r.stateCosts.loads}; ${f(r.stateCosts.bytesPerToken === null ? null : r.stateCosts.bytesPerToken / 1024, 1)})`)} |`,
    `| prompt-state policy: evaluating / saving / loading, ms per token (the host's estimates); saves / loads declined | | ${cols(r => policyCell(r.policy))} |`
  ];
}

/** The policy's estimates and decisions in one cell. */
export function policyCell(policy: any): string {
  if (!policy) {
    return '–';
  }
  const f = (n: number | null) => (n === null ? '–' : n.toFixed(4));
  const stopped = [policy.savesDisabled && `saves stopped: ${policy.savesDisabled}`, policy.loadsDisabled && `loads stopped: ${policy.loadsDisabled}`].filter(Boolean);
  const contended = typeof policy.evaluationsTimed === 'number' ? ` (evaluations timed beside other work: ${policy.evaluationsContended} of ${policy.evaluationsTimed})` : '';
  return (
    `${policy.mode}, ${policy.device}: ${f(policy.prefillMsPerToken)} / ${f(policy.saveMsPerToken)} / ${f(policy.loadMsPerToken)}${contended}; ` +
    `${policy.savesSkipped} / ${policy.loadsSkipped}${stopped.length ? ` (${stopped.join('; ')})` : ''}`
  );
}
