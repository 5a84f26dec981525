/**
 * Asks a model to judge an episode (the rubric, prompt, grammar and parse are
 * src/episode/judge.ts). The judge is any `AgentModel`: the embedded host or an
 * OpenAI-compatible server, as for the agent itself. It answers at temperature
 * 0 under the rubric's grammar (the host, llama.cpp servers and `datarus serve`
 * apply it; other servers are read leniently). A judge that fails, times out or
 * answers what cannot be read gives no verdict and says why: the score is
 * absent, never zero, and whatever it was judging is kept.
 */
import { JUDGE_RUBRIC_VERSION, judgeCacheKey, judgeRequest, JudgeVerdict, judgeVerdict, parseJudgeAnswer } from '../episode/judge';
import type { Episode } from '../episode/types';
import type { AgentModel } from './types';

export interface JudgeResult {
  rubric: string;
  /** The judge model's name. */
  model: string;
  /** The cache key (src/episode/judge.ts `judgeCacheKey`). */
  key: string;
  /** The scores, or null with `reason`. */
  verdict: JudgeVerdict | null;
  reason?: string;
  /** Read from the cache rather than asked. */
  cached: boolean;
}

/** Where verdicts are kept between runs, by key; only verdicts are kept (a failure is asked again). */
export interface JudgeCache {
  get(key: string): JudgeVerdict | undefined;
  set(key: string, verdict: JudgeVerdict): Promise<void>;
}

export interface JudgeOptions {
  /** How long the judge may take for one episode (default 300 s). */
  timeoutMs?: number;
  /** GBNF to hold the answer to instead of the rubric's own (it must still give the rubric's JSON). */
  grammar?: string;
  cache?: JudgeCache;
  signal?: AbortSignal;
}

export const DEFAULT_JUDGE_TIMEOUT_MS = 300000;

export async function judgeEpisode(model: AgentModel, episode: Episode, options: JudgeOptions = {}): Promise<JudgeResult> {
  const request = judgeRequest(episode);
  const grammar = options.grammar ?? request.grammar;
  const key = judgeCacheKey({ messages: request.messages, grammar }, model.name);
  const result = (verdict: JudgeVerdict | null, reason?: string, cached = false): JudgeResult => ({
    rubric: JUDGE_RUBRIC_VERSION,
    model: model.name,
    key,
    verdict,
    ...(reason ? { reason } : {}),
    cached
  });
  const known = options.cache?.get(key);
  if (known) {
    return result(known, undefined, true);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_JUDGE_TIMEOUT_MS;
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, timeoutMs);
  const onAbort = () => abort.abort();
  options.signal?.addEventListener('abort', onAbort);
  const episodeId = `judge-${episode.id}`;
  let text: string;
  let stopReason: string;
  try {
    const turn = await model.complete({ episodeId, messages: request.messages, stop: [], maxTokens: request.maxTokens, temperature: 0, grammar, signal: abort.signal }, () => undefined);
    text = turn.text;
    stopReason = turn.stopReason;
  } catch (err) {
    if (!timedOut) {
      return result(null, `the judge failed: ${(err as Error).message}`);
    }
    text = '';
    stopReason = 'abort';
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await model.endEpisode?.(episodeId).catch(() => undefined);
  }
  if (timedOut) {
    return result(null, `the judge did not answer within ${timeoutMs / 1000} s`);
  }
  if (stopReason === 'abort') {
    return result(null, 'the judge was stopped before it answered');
  }
  const parsed = parseJudgeAnswer(text, request.steps);
  if (!parsed.ok) {
    const cutOff = stopReason === 'length' ? ` (the answer was cut off at ${request.maxTokens} tokens)` : '';
    return result(null, `${parsed.reason}${cutOff}`);
  }
  const verdict = judgeVerdict(parsed.scores);
  await options.cache?.set(key, verdict);
  return result(verdict);
}

/**
 * The judge's part of a row's `reward_parts`: `hrm_step` and `hrm_episode`,
 * null when absent (no verdict, or no step to judge), and a `judge` field
 * with the rubric, the judge model, each step's scores, or the reason there is none.
 */
export function judgeRowFields(result: JudgeResult): { parts: { hrm_step: number | null; hrm_episode: number | null }; judge: object } {
  const v = result.verdict;
  return {
    parts: { hrm_step: v?.hrm_step ?? null, hrm_episode: v?.hrm_episode ?? null },
    judge: v
      ? { rubric: result.rubric, model: result.model, steps: v.steps, answer_follows: v.answer_follows, complete: v.complete }
      : { rubric: result.rubric, model: result.model, reason: result.reason ?? 'no verdict' }
  };
}
