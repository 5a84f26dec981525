/**
 * How an ended episode is described to the user: one sentence, the reason
 * stated once (the loop's reason already says what happened).
 */
import type { Episode } from '../episode/types';

function stepCount(episode: Episode): string {
  const steps = episode.steps.filter(s => s.status !== 'invalid').length;
  return `${steps} step${steps === 1 ? '' : 's'}`;
}

export function describeEnding(episode: Episode): string {
  const reason = episode.reason?.trim().replace(/\.$/, '');
  switch (episode.status) {
    case 'answered':
      return episode.answerGrounding?.grounded === false
        ? `answered after ${stepCount(episode)}, but no cell printed ${episode.answerGrounding.unsupported.join(', ')}`
        : `answered after ${stepCount(episode)}`;
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
