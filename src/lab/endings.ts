/**
 * How an ended episode is described to the user: one sentence, the reason
 * stated once (the loop's reason already says what happened).
 */
import { shortenedNote } from '../episode/cuts';
import type { Episode } from '../episode/types';
import type { AnswerRequestReason } from '../protocol';

function stepCount(episode: Episode): string {
  const steps = episode.steps.filter(s => s.status !== 'invalid').length;
  return `${steps} step${steps === 1 ? '' : 's'}`;
}

/** Why the loop asked for the answer, in a few words. */
const ASKED: Record<AnswerRequestReason, string> = {
  repeating: 'it kept writing the same code',
  step_limit: 'the step limit was reached',
  error_limit: 'too many steps failed in a row',
  context: 'the context was full'
};

/** The ending, and that outputs were shortened to fit the context when they were. */
export function describeEnding(episode: Episode): string {
  const shortened = shortenedNote(episode);
  const ending = endingOf(episode);
  return shortened && episode.status !== 'running' ? `${ending}; ${shortened}` : ending;
}

function endingOf(episode: Episode): string {
  const reason = episode.reason?.trim().replace(/\.$/, '');
  switch (episode.status) {
    case 'answered': {
      const asked = episode.answerRequest ? ` (asked for the answer: ${ASKED[episode.answerRequest.reason]})` : '';
      if (episode.answerRequest?.nothingPrinted) {
        return `answered after ${stepCount(episode)}${asked}, but no cell printed anything: the answer is the model's guess`;
      }
      return episode.answerGrounding?.grounded === false
        ? `answered after ${stepCount(episode)}${asked}, but no cell printed ${episode.answerGrounding.unsupported.join(', ')}`
        : `answered after ${stepCount(episode)}${asked}`;
    }
    case 'error_limit':
      return `stopped: ${reason || 'too many errors in a row'}`;
    case 'step_limit':
      return `stopped at the step limit (${stepCount(episode)})`;
    case 'failed':
      return `failed: ${reason || 'unknown error'}`;
    case 'stopped':
      return `stopped after ${stepCount(episode)}${reason ? `: ${reason}` : ''}`;
    case 'running':
      return 'running';
  }
}
