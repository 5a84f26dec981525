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
 * Pure: the counting is the model's (or the character estimate here).
 */
import { conversation } from '../episode/conversation';
import type { Episode, ObservationCut } from '../episode/types';
import type { ChatMessage } from './messages';

/** Characters per token assumed when the model cannot count: few, so the estimate errs long. */
export const ESTIMATE_CHARS_PER_TOKEN = 3;
/** Tokens a chat template adds around each message, in the estimate. */
const MESSAGE_OVERHEAD_TOKENS = 8;
/** An observation cut to its head and tail keeps about this many characters. */
export const SHORTENED_OBSERVATION_CHARS = 600;
/** A one-line observation keeps at most this many characters of its first line. */
const LINE_CHARS = 160;
/** A cut brings the prompt down to this share of what fits, so the next turns need none. */
export const CUT_TARGET = 0.7;

/** Tokens of a message list by its characters, when the model cannot count. */
export function estimateTokens(messages: ChatMessage[]): number {
  return messages.reduce((sum, m) => sum + Math.ceil(m.content.length / ESTIMATE_CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS, 0);
}

/** Head and tail of a long observation, with how much was cut between. */
export function shortenObservation(text: string, limit = SHORTENED_OBSERVATION_CHARS): string {
  if (text.length <= limit) {
    return text;
  }
  const head = Math.ceil(limit * 0.6);
  const tail = limit - head;
  return `${text.slice(0, head)}\n… ${text.length - limit} characters cut …\n${text.slice(text.length - tail)}`;
}

/** The first non-blank line of an observation, saying how much was cut. */
export function observationLine(text: string): string {
  const first = (text.split('\n').find(line => line.trim() !== '') ?? '').slice(0, LINE_CHARS);
  const cut = text.length - first.length;
  return cut > 0 ? `${first} … ${cut} characters cut …` : text;
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
 * conversation: observations shortened oldest first, then older ones reduced
 * to one line. Empty when nothing is left to cut. The latest step keeps more
 * than one line (its output is what the model answers from) unless `all`.
 */
export function planCuts(episode: Episode, excessChars: number, all = false): ObservationCut[] {
  const current = currentObservations(episode);
  // Invalid turns show the model's text, not an observation: nothing of theirs to cut.
  const steps = episode.steps.filter(s => s.status !== 'invalid');
  const cuts: ObservationCut[] = [];
  let saved = 0;
  const cut = (step: number, kind: ObservationCut['kind'], observation: string) => {
    const before = current.get(step)!;
    if (observation.length >= before.length) {
      return;
    }
    const recorded = episode.steps.find(s => s.index === step)!.observation;
    cuts.push({ afterSteps: episode.steps.length, step, kind, observation, cutChars: recorded.length - observation.length });
    saved += before.length - observation.length;
    current.set(step, observation);
  };
  const older = all ? steps : steps.slice(0, -1);
  const plan: Array<() => void> = [
    ...steps.map(step => () => cut(step.index, 'shortened', shortenObservation(current.get(step.index)!))),
    ...older.map(step => () => cut(step.index, 'line', observationLine(current.get(step.index)!)))
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

/** What the budget decided for the next turn. */
export type BudgetCheck =
  | { fits: true; tokens: number; contextSize: number | null }
  | { fits: false; tokens: number; contextSize: number };

/**
 * Brings the next prompt within the context, cutting observations and
 * recording the cuts in the episode. `count` gives the prompt's tokens and the
 * context (null when unknown: no budget). Not fitting means nothing more can
 * be cut: the loop asks for the answer, or ends with a message.
 */
export async function fitToContext(
  episode: Episode,
  maxTokens: number,
  count: (messages: ChatMessage[]) => Promise<{ tokens: number; contextSize: number | null }>,
  { all = false }: { all?: boolean } = {}
): Promise<BudgetCheck> {
  // One token for the BOS the host may put in front.
  const room = (contextSize: number) => contextSize - 1 - maxTokens;
  for (let round = 0; ; round++) {
    const messages = conversation(episode);
    const { tokens, contextSize } = await count(messages);
    if (contextSize === null || tokens <= room(contextSize)) {
      return { fits: true, tokens, contextSize };
    }
    // Characters per token of this prompt turn the token excess into characters to cut.
    const chars = messages.reduce((sum, m) => sum + m.content.length, 0);
    const charsPerToken = chars / Math.max(1, tokens);
    const target = Math.floor(room(contextSize) * CUT_TARGET);
    const excess = Math.ceil((tokens - Math.max(0, target)) * charsPerToken);
    const cuts = round < 8 ? planCuts(episode, excess, all) : [];
    if (cuts.length === 0) {
      return { fits: false, tokens, contextSize };
    }
    episode.observationCuts = [...(episode.observationCuts ?? []), ...cuts];
  }
}

/** Characters the budget left out of what the model read, over the whole episode. */
export function charactersCut(episode: Pick<Episode, 'steps' | 'observationCuts'>): number {
  const latest = new Map<number, number>();
  for (const cut of episode.observationCuts ?? []) {
    latest.set(cut.step, cut.cutChars);
  }
  return [...latest.values()].reduce((a, b) => a + b, 0);
}
