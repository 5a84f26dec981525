/**
 * The one conversation of an episode. The agent loop asks this module for the
 * messages of each turn, and every export asks it for the prompt of a step, so
 * what is exported for step k is byte for byte what the model was sent at step
 * k. Both are computed from the episode record alone (question, context,
 * profile, and the steps before k), and the loop records the sha256 of each
 * message list it sent (`promptSha256`) so exports can be checked.
 *
 * Pure: no DOM, no Node.
 */
import { sha256 } from 'js-sha256';

import { ChatMessage, comparableCode, formatAnswer, getProfile, PromptProfile, stepMessage } from '../protocol';
import type { Episode, EpisodeStep } from './types';

/** The fields of an episode the conversation depends on. */
export type ConversationSource = Pick<Episode, 'question' | 'context' | 'promptProfile' | 'steps' | 'rejectedAnswers' | 'answerRequest' | 'observationCuts'>;

/** A turn that did not run its code because of an error or a protocol failure. */
export function isFailedStep(step: EpisodeStep): boolean {
  return step.status === 'invalid' || step.status === 'error' || step.status === 'timeout';
}

/** The profile an episode followed; episodes logged before profiles existed followed `generic`'s wording. */
export function episodeProfile(episode: Pick<Episode, 'promptProfile'>): PromptProfile {
  return getProfile(episode.promptProfile);
}

/**
 * The step that last ran before `steps[i]` (skipped and malformed turns ran nothing), if any.
 */
function lastRunBefore(steps: EpisodeStep[], i: number): EpisodeStep | undefined {
  for (let j = i - 1; j >= 0; j--) {
    if (steps[j].status !== 'skipped' && steps[j].status !== 'invalid') {
      return steps[j];
    }
  }
  return undefined;
}

/** The user message after `steps[i]`. */
function followUp(profile: PromptProfile, steps: EpisodeStep[], i: number): string {
  const step = steps[i];
  if (step.status === 'skipped') {
    // A repeat of code that had just raised was not run because it would raise again: the model is told
    // about that error again, not "that is the output of your code" (a 1.5B model then made an answer up).
    const ran = lastRunBefore(steps, i);
    if (ran && (ran.status === 'error' || ran.status === 'timeout') && comparableCode(ran.code) === comparableCode(step.code)) {
      return profile.afterError(ran.error?.ename ?? 'Error');
    }
  }
  if (step.status === 'invalid') {
    return step.cutOff ? profile.afterCutOff : profile.afterMalformed(step.problems ?? step.violations.map(v => v.message));
  }
  if (step.status === 'error' || step.status === 'timeout') {
    return profile.afterError(step.error?.ename ?? 'Error');
  }
  return profile.afterStep;
}

/** The assistant message for a recorded step. */
function stepTurn(profile: PromptProfile, step: EpisodeStep, observation = step.observation): ChatMessage {
  if (step.status === 'invalid') {
    // Nothing ran: the model's text goes back as it was written.
    return { role: 'assistant', content: profile.invalidTurn ? profile.invalidTurn(step.raw) : step.raw };
  }
  // A skipped step's observation is the harness's own words; every other one is what the kernel printed.
  const observationSource = step.status === 'skipped' ? 'harness' : 'kernel';
  return stepMessage(profile, { raw: step.raw, thought: step.thought, code: step.code, modelCode: step.modelCode, observation, observationSource });
}

/** The system prompt and the first user message: the prompt every episode starts from. */
export function openingMessages(episode: Pick<Episode, 'question' | 'context' | 'promptProfile'>): ChatMessage[] {
  const profile = episodeProfile(episode);
  return [
    { role: 'system', content: profile.systemPrompt },
    { role: 'user', content: profile.firstUserMessage(episode.question, episode.context) }
  ];
}

/**
 * The messages sent for the turn after `upTo` recorded steps (all of them when
 * omitted): system prompt, first user message, then each step with its
 * follow-up, an answer sent back (with its feedback) where it came, and the
 * loop's request for the answer at the end when it made one. Observations the
 * loop shortened for the token budget before that turn read as shortened. With `failedAttempts: 'latest'`, a failed turn
 * followed by another failed turn is left out, so only the last of a run of
 * failures stays.
 */
export function conversation(episode: ConversationSource, upTo?: number): ChatMessage[] {
  const profile = episodeProfile(episode);
  const steps = upTo === undefined ? episode.steps : episode.steps.filter(s => s.index < upTo);
  const rejected = (episode.rejectedAnswers ?? []).filter(r => upTo === undefined || r.afterSteps <= upTo);
  const messages = openingMessages(episode);
  const pushRejected = (afterSteps: number) => {
    for (const r of rejected.filter(r => r.afterSteps === afterSteps)) {
      messages.push({ role: 'assistant', content: r.raw }, { role: 'user', content: r.feedback });
    }
  };
  // The latest cut of each step made before this turn; later ones replace earlier ones.
  const shortened = new Map<number, string>();
  for (const cut of episode.observationCuts ?? []) {
    if (upTo === undefined || cut.afterSteps <= upTo) {
      shortened.set(cut.step, cut.observation);
    }
  }
  pushRejected(0);
  steps.forEach((step, i) => {
    const next = steps[i + 1];
    if (!(profile.failedAttempts === 'latest' && isFailedStep(step) && next && isFailedStep(next))) {
      messages.push(stepTurn(profile, step, shortened.get(step.index)), { role: 'user', content: followUp(profile, steps, i) });
    }
    pushRejected(step.index + 1);
  });
  const request = episode.answerRequest;
  if (request && (upTo === undefined || request.afterSteps <= upTo)) {
    // Added to the last user turn rather than as a turn of its own: chat templates that want
    // user and assistant turns to alternate accept it.
    const last = messages[messages.length - 1];
    if (last.role === 'user') {
      messages[messages.length - 1] = { role: 'user', content: `${last.content}\n\n${request.message}` };
    } else {
      messages.push({ role: 'user', content: request.message });
    }
  }
  return messages;
}

/**
 * The messages step `index`'s turn was sent: the conversation before it, and
 * the start of the turn when the loop wrote one for the model (`prefill`,
 * continued by the model; the step's `raw` begins with it).
 */
export function turnMessages(episode: ConversationSource, index: number): ChatMessage[] {
  const messages = conversation(episode, index);
  const prefill = episode.steps.find(s => s.index === index)?.prefill;
  return prefill ? withTurnStart(messages, prefill) : messages;
}

/** `messages` with `start` as an open assistant turn for the model to continue. */
export function withTurnStart(messages: ChatMessage[], start: string): ChatMessage[] {
  return [...messages, { role: 'assistant', content: start }];
}

/** The whole conversation with the final answer as the last assistant turn (SFT). */
export function fullConversation(episode: Episode): ChatMessage[] {
  const messages = conversation(episode);
  if (episode.answer) {
    messages.push({ role: 'assistant', content: formatAnswer(episode.answer) });
  }
  return messages;
}

/**
 * sha256 (hex) of a message list: of its JSON with only `role` and `content`,
 * in that order, so the hash does not depend on extra fields or key order.
 */
export function promptSha256(messages: ChatMessage[]): string {
  return sha256(JSON.stringify(messages.map(m => ({ role: m.role, content: m.content }))));
}
