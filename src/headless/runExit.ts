/**
 * How `datarus run` ends: the exit code a script can test, and what goes on
 * stdout (the answer, and the caution when no output showed what it states).
 */
import { deliveredAnswer } from '../episode/answer';
import type { Episode } from '../episode/types';

/** `datarus run`'s exit codes (also in `datarus run --help` and the README). */
export const RUN_EXIT = Object.freeze({
  /** An answer, grounded in what the code printed. */
  answered: 0,
  /** Something failed: a usage error, a model or kernel that would not start. */
  error: 1,
  /** The episode ended without an answer, or with an empty one. */
  noAnswer: 3,
  /** An answer stating values that no output showed; the caution is printed after it. */
  ungrounded: 4,
  /** Stopped by Ctrl-C or SIGTERM. */
  interrupted: 130
});

export const RUN_EXIT_HELP = [
  'Exit codes:',
  `  ${RUN_EXIT.answered}    answered (the answer is on stdout)`,
  `  ${RUN_EXIT.error}    error (usage, model or kernels would not start)`,
  `  ${RUN_EXIT.noAnswer}    the episode ended without an answer (or an empty one)`,
  `  ${RUN_EXIT.ungrounded}    an answer no output supports: stdout has the answer, then a "Caution:" line`,
  `  ${RUN_EXIT.interrupted}  interrupted (Ctrl-C, SIGTERM)`
].join('\n');

export interface RunEnd {
  code: number;
  /** What goes to stdout, each entry a line. */
  stdout: string[];
}

export function runEnd(episode: Pick<Episode, 'status' | 'answer' | 'answerForm' | 'answerGrounding'>, interrupted: boolean): RunEnd {
  const answer = deliveredAnswer(episode)?.trim() ?? '';
  if (interrupted && episode.status !== 'answered') {
    return { code: RUN_EXIT.interrupted, stdout: [] };
  }
  if (episode.status !== 'answered' || answer === '') {
    return { code: RUN_EXIT.noAnswer, stdout: answer ? [answer] : [] };
  }
  const grounding = episode.answerGrounding;
  if (grounding && !grounding.grounded) {
    const values = grounding.unsupported.join(', ');
    return {
      code: RUN_EXIT.ungrounded,
      stdout: [answer, `Caution: no output of the code showed ${values || 'what this answer states'}. Check this answer against the data before relying on it.`]
    };
  }
  return { code: RUN_EXIT.answered, stdout: [answer] };
}
