/**
 * What the token budget left out of an episode's conversation
 * (`episode.observationCuts`, made by src/agent/budget.ts), in figures and in
 * the words every ending uses.
 */
import type { Episode } from './types';

type CutSource = Pick<Episode, 'observationCuts'>;

/** Characters of recorded observations the model last read without, over the whole episode. */
export function charactersCut(episode: CutSource): number {
  const latest = new Map<number, number>();
  for (const cut of episode.observationCuts ?? []) {
    latest.set(cut.step, cut.cutChars);
  }
  return [...latest.values()].reduce((a, b) => a + b, 0);
}

/** One clause saying that outputs were shortened to fit the context, or null when none was. */
export function shortenedNote(episode: CutSource): string | null {
  const steps = new Set((episode.observationCuts ?? []).map(c => c.step)).size;
  if (steps === 0) {
    return null;
  }
  const chars = charactersCut(episode).toLocaleString('en-US');
  return `the outputs of ${steps} step${steps === 1 ? '' : 's'} were shortened to fit the model's context (${chars} characters cut)`;
}
