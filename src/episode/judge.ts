/**
 * The judge's half of the dual reward: a hierarchical score of an episode by a
 * model reading it, after the Datarus paper's hierarchical reward model. Per
 * step, whether the code is a sound way to do what its thought says and
 * whether the thought builds on the previous observation; per episode, whether
 * the answer follows from what was printed and whether the analysis was
 * complete.
 *
 * What is here is pure: the rubric (fixed and versioned: a score is only
 * comparable with scores of the same rubric and judge model), the judge's
 * messages for an episode, the GBNF grammar its answer is held to (a compact
 * JSON object with one entry per step and integer scores), the parse of that
 * answer, and the key a score is cached under. Asking a model is
 * src/agent/judge.ts.
 *
 * Scores are integers from 1 to 5, reported normalised to [0, 1]:
 * `hrm_step` is the mean over the steps of the mean of a step's two scores,
 * `hrm_episode` the mean of the two episode scores. An answer that cannot be
 * read gives no score, with the reason, never a zero.
 */
import { sha256 } from 'js-sha256';

import type { ChatMessage } from '../protocol';
import { executedSteps } from './export';
import type { Episode, EpisodeStep } from './types';

export const JUDGE_RUBRIC_VERSION = 'datarus-hrm-1';
export const JUDGE_SCORE_MIN = 1;
export const JUDGE_SCORE_MAX = 5;

/** Characters of a step's code and output the judge reads; the rest is cut, and the cut is said. */
const MAX_CODE_CHARS = 4000;
const MAX_OUTPUT_CHARS = 2000;

export const JUDGE_SYSTEM_PROMPT = `You review data analyses done in a Python notebook. You read a question, the analysis steps (each with the analyst's thought, the code that ran and what it printed) and the final answer, and you grade them with this rubric (${JUDGE_RUBRIC_VERSION}). Every score is an integer from 1 (not at all) to 5 (fully).

For each step:
- "sound": the code is a correct and sensible way to do what the step's thought says.
- "uses_observation": the thought builds on what the previous step printed (for the first step: on the question and the data it names). A step that ignores an error printed just before it scores 1.

For the whole analysis:
- "answer_follows": every value in the final answer is what the printed outputs show; nothing is invented, guessed or taken from elsewhere. No final answer scores 1.
- "complete": the analysis did all the question asks (every part, on all the data, within its constraints).

Errors, tracebacks and outputs that contradict a thought lower the scores. Answer with this JSON object only, one entry per step in order, each letter replaced by its score:
{"steps":[{"step":1,"sound":S,"uses_observation":U}, …],"answer_follows":A,"complete":C}`;

/** A judged step: the episode's step index and its two scores (1–5). */
export interface JudgedStep {
  step: number;
  sound: number;
  uses_observation: number;
}

/** The judge's answer, as integers from 1 to 5. */
export interface JudgeScores {
  steps: JudgedStep[];
  answer_follows: number;
  complete: number;
}

export type JudgeParse = { ok: true; scores: JudgeScores } | { ok: false; reason: string };

/** What the judge is asked for one episode. */
export interface JudgeRequest {
  messages: ChatMessage[];
  grammar: string;
  /** The episode's indices of the steps the judge scores, in order (the steps that ran). */
  steps: number[];
  /** Enough tokens for the JSON answer of this many steps. */
  maxTokens: number;
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}\n[… ${text.length - max} more characters not shown]`;
}

function stepText(step: EpisodeStep, position: number): string {
  const lines = [`Step ${position}`, `Thought: ${step.thought.trim() || '(none)'}`, 'Code:', '```python', cut(step.code, MAX_CODE_CHARS), '```'];
  const status = step.status === 'error' ? ` (it raised ${step.error?.ename ?? 'an error'})` : step.status === 'timeout' ? ' (it ran past its time limit and was interrupted)' : '';
  lines.push(`Printed${status}:`, cut(step.observation.trim(), MAX_OUTPUT_CHARS) || '(nothing)');
  return lines.join('\n');
}

/** The user message: the question (and the context the analyst read), each step that ran, the final answer. */
export function judgeTranscript(episode: Episode): string {
  const parts = [`Question:\n${episode.question.trim()}`];
  if (episode.context?.trim()) {
    parts.push(`Context the analyst was given:\n${episode.context.trim()}`);
  }
  executedSteps(episode).forEach((step, i) => parts.push(stepText(step, i + 1)));
  parts.push(episode.answer ? `Final answer:\n${episode.answer.text.trim()}` : 'Final answer: none (the analysis stopped without answering).');
  return parts.join('\n\n');
}

/** A GBNF string literal. */
function literal(text: string): string {
  return JSON.stringify(text);
}

/**
 * The grammar of the answer for `stepCount` steps: compact JSON, the steps
 * numbered 1…n in order, every score one digit from 1 to 5. A model held to it
 * can only write an answer `parseJudgeAnswer` reads.
 */
export function judgeGrammar(stepCount: number): string {
  const steps = Array.from({ length: stepCount }, (_, i) => `${literal(`{"step":${i + 1},"sound":`)} score ${literal(',"uses_observation":')} score "}"`);
  const list = steps.length ? steps.join(' "," ') : '';
  return [
    `root ::= ${literal('{"steps":[')} ${list} ${literal('],"answer_follows":')} score ${literal(',"complete":')} score "}"`.replace(/ {2,}/g, ' '),
    'score ::= [1-5]'
  ].join('\n');
}

/** The judge's messages, grammar and token budget for an episode. */
export function judgeRequest(episode: Episode): JudgeRequest {
  const steps = executedSteps(episode).map(s => s.index);
  return {
    messages: [
      { role: 'system', content: JUDGE_SYSTEM_PROMPT },
      { role: 'user', content: judgeTranscript(episode) }
    ],
    grammar: judgeGrammar(steps.length),
    steps,
    // The longest answer is 44 characters plus 44 a step: enough even at a token a character (a byte-level vocabulary).
    maxTokens: 64 + 48 * steps.length
  };
}

function score(value: unknown, what: string): number | string {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < JUDGE_SCORE_MIN || value > JUDGE_SCORE_MAX) {
    return `${what} must be an integer from ${JUDGE_SCORE_MIN} to ${JUDGE_SCORE_MAX} (got ${JSON.stringify(value) ?? 'nothing'})`;
  }
  return value;
}

/**
 * Reads a judge's answer for an episode whose judged steps are `steps` (their
 * indices). A grammar-held answer is the JSON object alone; a server that
 * ignores grammars may wrap it in a code fence or words, so the outermost
 * `{…}` is read. Anything else is refused with the reason.
 */
export function parseJudgeAnswer(text: string, steps: number[]): JudgeParse {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end < start) {
    return { ok: false, reason: text.trim() ? `the judge's answer holds no JSON object: "${cut(text.trim(), 80)}"` : "the judge's answer is empty" };
  }
  let value: unknown;
  try {
    value = JSON.parse(text.slice(start, end + 1));
  } catch (err) {
    return { ok: false, reason: `the judge's answer is not valid JSON (${(err as Error).message})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reason: "the judge's answer is not a JSON object" };
  }
  const answer = value as Record<string, unknown>;
  if (!Array.isArray(answer.steps)) {
    return { ok: false, reason: 'the judge\'s answer has no "steps" list' };
  }
  if (answer.steps.length !== steps.length) {
    return { ok: false, reason: `the judge scored ${answer.steps.length} step(s); the episode has ${steps.length}` };
  }
  const judged: JudgedStep[] = [];
  for (let i = 0; i < steps.length; i++) {
    const entry = answer.steps[i] as Record<string, unknown> | null;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      return { ok: false, reason: `the judge's entry for step ${i + 1} is not an object` };
    }
    if (entry.step !== undefined && entry.step !== i + 1) {
      return { ok: false, reason: `the judge's entry ${i + 1} is numbered ${JSON.stringify(entry.step)}` };
    }
    const sound = score(entry.sound, `step ${i + 1}'s "sound"`);
    const uses = score(entry.uses_observation, `step ${i + 1}'s "uses_observation"`);
    for (const s of [sound, uses]) {
      if (typeof s === 'string') {
        return { ok: false, reason: s };
      }
    }
    judged.push({ step: steps[i], sound: sound as number, uses_observation: uses as number });
  }
  const follows = score(answer.answer_follows, '"answer_follows"');
  const complete = score(answer.complete, '"complete"');
  for (const s of [follows, complete]) {
    if (typeof s === 'string') {
      return { ok: false, reason: s };
    }
  }
  return { ok: true, scores: { steps: judged, answer_follows: follows as number, complete: complete as number } };
}

/** A 1–5 score on [0, 1]. */
export function normalizedScore(value: number): number {
  return (value - JUDGE_SCORE_MIN) / (JUDGE_SCORE_MAX - JUDGE_SCORE_MIN);
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/** The judge's verdict on [0, 1]: the two rewards, and each step's and criterion's score. */
export interface JudgeVerdict {
  /** Mean over the steps of each step's mean score; null when no step ran (there was nothing to judge). */
  hrm_step: number | null;
  hrm_episode: number;
  steps: { step: number; sound: number; uses_observation: number }[];
  answer_follows: number;
  complete: number;
}

export function judgeVerdict(scores: JudgeScores): JudgeVerdict {
  const steps = scores.steps.map(s => ({ step: s.step, sound: normalizedScore(s.sound), uses_observation: normalizedScore(s.uses_observation) }));
  const stepMeans = steps.map(s => (s.sound + s.uses_observation) / 2);
  const answerFollows = normalizedScore(scores.answer_follows);
  const complete = normalizedScore(scores.complete);
  return {
    hrm_step: stepMeans.length ? round(stepMeans.reduce((a, b) => a + b, 0) / stepMeans.length) : null,
    hrm_episode: round((answerFollows + complete) / 2),
    steps,
    answer_follows: answerFollows,
    complete
  };
}

/**
 * The key a judge's score is cached under: the sha256 of the rubric version,
 * the judge model's name, and everything it was sent (messages and grammar).
 * The same episode judged again by the same judge reads the cache; a new
 * rubric, another judge or a changed episode is judged anew.
 */
export function judgeCacheKey(request: Pick<JudgeRequest, 'messages' | 'grammar'>, judgeModel: string): string {
  return sha256(JSON.stringify({ rubric: JUDGE_RUBRIC_VERSION, model: judgeModel, grammar: request.grammar, messages: request.messages.map(m => ({ role: m.role, content: m.content })) }));
}
