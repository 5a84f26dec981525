/**
 * The answer an episode delivers: the model's, with the fixes that needed no
 * model applied (a value rounded to the decimals the task asked for). Scorers,
 * answer cells and the CLI read this; training exports keep the model's own
 * turn. Pure.
 */
import type { Episode } from './types';

export function deliveredAnswer(episode: Pick<Episode, 'answer' | 'answerForm'>): string | null {
  if (!episode.answer) {
    return null;
  }
  return episode.answerForm?.text ?? episode.answer.text;
}
