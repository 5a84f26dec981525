/**
 * The token budget of a conversation. Before each turn the loop checks that
 * the prompt and the turn's `maxTokens` fit the model's context; when they do
 * not, observations are cut, oldest first: first to their head and tail, then
 * (for every step but the latest) to one line. Each cut is recorded in the
 * episode (`observationCuts`), so `conversation()` rebuilds every prompt.
 *
 * Cuts are made in large chunks, down to `CUT_TARGET` of the budget, so they
 * stay rare: a cut changes the prompt from that point on, and the host
 * evaluates everything after it again.
 *
 * The counting is the model side's (the host's tokenizer); without a count there is no budget.
 */
import { conversation } from '../episode/conversation';
import type { Episode, EpisodeStep, ObservationCut } from '../episode/types';
import type { ChatMessage } from './messages';

/** An observation cut to its head and tail keeps about this many characters. */
export const SHORTENED_OBSERVATION_CHARS = 600;
/** The latest observation, when even its head and tail do not fit, keeps this many (small contexts). */
export const TIGHT_OBSERVATION_CHARS = 200;
/** A one-line observation keeps at most this many characters of its first line. */
const LINE_CHARS = 100;
/** A cut brings the prompt down to this share of what fits, so the next turns need none. */
export const CUT_TARGET = 0.7;

/** An observation as a cut leaves it, and how many of its characters were left out. */
export interface Shortened {
  observation: string;
  cutChars: number;
}

/** Head and tail of a long observation, with how much was cut between; null when it is short enough. */
export function shortenObservation(text: string, limit = SHORTENED_OBSERVATION_CHARS): Shortened | null {
  if (text.length <= limit) {
    return null;
  }
  const head = Math.ceil(limit * 0.6);
  const tail = limit - head;
  const cutChars = text.length - limit;
  return { observation: `${text.slice(0, head)}\n… ${cutChars} characters cut …\n${text.slice(text.length - tail)}`, cutChars };
}

/** The first non-blank line of an observation, saying how much was cut; null when that is all of it. */
export function observationLine(text: string): Shortened | null {
  const first = (text.split('\n').find(line => line.trim() !== '') ?? '').slice(0, LINE_CHARS);
  const cutChars = text.length - first.length;
  return cutChars > 0 ? { observation: `${first} … ${cutChars} characters cut …`, cutChars } : null;
}

/** The observation of each step the conversation shows now (its latest cut, or as recorded). */
function currentObservations(episode: Pick<Episode, 'steps' | 'observationCuts'>): Map<number, string> {
  const current = new Map<number, string>();
  for (const step of episode.steps) {
    current.set(step.index, step.observation);
  }
  for (const cut of episode.observationCuts ?? []) {
    current.set(cut.step, cut.observation);
  }
  return current;
}

/**
 * The next cuts that remove about `excessChars` characters from the
 * conversation: older observations shortened oldest first, then reduced to
 * one line, and only then the latest step's shortened, to 600 and then 200
 * characters (its output is what the model goes on from; it keeps more than
 * one line unless `all`). Empty when
 * nothing is left to cut.
 */
export function planCuts(episode: Episode, excessChars: number, all = false): ObservationCut[] {
  const current = currentObservations(episode);
  // Invalid turns show the model's text, not an observation: nothing of theirs to cut.
  const steps = episode.steps.filter(s => s.status !== 'invalid');
  const cuts: ObservationCut[] = [];
  let saved = 0;
  // Each cut is made from the recorded observation, so its "N characters cut" counts from what ran.
  const cut = (step: EpisodeStep, kind: ObservationCut['kind'], shorten: (text: string) => Shortened | null) => {
    const before = current.get(step.index)!;
    const made = shorten(step.observation);
    if (!made || made.observation.length >= before.length) {
      return;
    }
    cuts.push({ afterSteps: episode.steps.length, step: step.index, kind, ...made });
    saved += before.length - made.observation.length;
    current.set(step.index, made.observation);
  };
  const older = steps.slice(0, -1);
  const latest = steps.slice(-1);
  const plan: Array<() => void> = [
    ...older.map(step => () => cut(step, 'shortened', text => shortenObservation(text))),
    ...older.map(step => () => cut(step, 'line', observationLine)),
    ...latest.map(step => () => cut(step, 'shortened', text => shortenObservation(text))),
    ...latest.map(step => () => cut(step, 'shortened', text => shortenObservation(text, TIGHT_OBSERVATION_CHARS))),
    ...(all ? latest : []).map(step => () => cut(step, 'line', observationLine))
  ];
  for (const next of plan) {
    if (saved >= excessChars) {
      break;
    }
    next();
  }
  // Several cuts of one step in one plan: only the last is what the model reads.
  return cuts.filter((c, i) => !cuts.slice(i + 1).some(later => later.step === c.step));
}

/** The share of the context at most kept free for a turn's reply. */
export const REPLY_SHARE = 0.25;

/**
 * Tokens kept free for the turn's reply: its `maxTokens`, but at most a
 * quarter of the context (a 2,048-token turn limit would otherwise leave no
 * room at all in a 2,048-token context; the host stops a reply where the
 * context ends).
 */
export function replyReserve(maxTokens: number, contextSize: number): number {
  return Math.max(1, Math.min(maxTokens, Math.floor(contextSize * REPLY_SHARE)));
}

/** A prompt's size and the context it must fit, as the model side counts them (null: no budget). */
export interface PromptSize {
  tokens: number;
  contextSize: number | null;
}

/** What the budget decided for the next turn. */
export type BudgetCheck =
  | { fits: true; tokens: number; contextSize: number | null }
  | { fits: false; tokens: number; contextSize: number; reserve: number };

/**
 * Brings the next prompt within the context, cutting observations and
 * recording the cuts in the episode. `count` gives the prompt's tokens and the
 * context (null when unknown: no budget). Not fitting means nothing more can
 * be cut: the loop asks for the answer, or ends with a message. `keepTokens`
 * and `keepChars` (in this prompt's characters per token) are kept free besides
 * the reply: the loop keeps room to ask for the answer after the next step.
 */
export async function fitToContext(
  episode: Episode,
  maxTokens: number,
  count: (messages: ChatMessage[]) => Promise<PromptSize>,
  { all = false, keepTokens = 0, keepChars = 0 }: { all?: boolean; keepTokens?: number; keepChars?: number } = {}
): Promise<BudgetCheck> {
  for (let round = 0; ; round++) {
    const messages = conversation(episode);
    const { tokens, contextSize } = await count(messages);
    // Characters per token of this prompt turn characters into tokens, and the token excess into characters to cut.
    const chars = messages.reduce((sum, m) => sum + m.content.length, 0);
    const charsPerToken = chars / Math.max(1, tokens);
    // One token for the BOS the host may put in front; then the reply, and what the caller keeps free besides.
    const room = (contextSize: number) =>
      contextSize - 1 - replyReserve(maxTokens, contextSize) - keepTokens - Math.ceil(keepChars / Math.max(charsPerToken, 0.25));
    if (contextSize === null || tokens <= room(contextSize)) {
      return { fits: true, tokens, contextSize };
    }
    const target = Math.floor(room(contextSize) * CUT_TARGET);
    const excess = Math.ceil((tokens - Math.max(0, target)) * charsPerToken);
    const cuts = round < 8 ? planCuts(episode, excess, all) : [];
    if (cuts.length === 0) {
      return { fits: false, tokens, contextSize, reserve: replyReserve(maxTokens, contextSize) };
    }
    episode.observationCuts = [...(episode.observationCuts ?? []), ...cuts];
  }
}

/**
 * A server's refusal of a prompt too long for its context (OpenAI-compatible
 * servers answer 400 with words such as "maximum context length" or "exceeds
 * the available context size"; this project's host says "the context holds").
 */
export function isContextRefusal(err: unknown): boolean {
  const status = (err as { status?: number } | null)?.status;
  const message = err instanceof Error ? err.message : '';
  return status === 400 && /context|too many tokens|prompt is too long/i.test(message);
}

/**
 * After a refusal for length, where no count said how much is too much: cuts
 * the conversation's observations by the share a budget cut leaves out
 * (`1 - CUT_TARGET` of its characters), recorded like every cut. False when
 * nothing is left to cut.
 */
export function cutAfterRefusal(episode: Episode): boolean {
  const chars = conversation(episode).reduce((sum, m) => sum + m.content.length, 0);
  const cuts = planCuts(episode, Math.ceil(chars * (1 - CUT_TARGET)));
  if (cuts.length === 0) {
    return false;
  }
  episode.observationCuts = [...(episode.observationCuts ?? []), ...cuts];
  return true;
}
