import { RUN_EXIT, runEnd } from '../../src/headless/runExit';
import type { Episode } from '../../src/episode/types';

type Ending = Pick<Episode, 'status' | 'answer' | 'answerForm' | 'answerGrounding'>;
const answered = (text: string, grounding?: Episode['answerGrounding']): Ending => ({
  status: 'answered',
  answer: { thought: 'It printed it.', text },
  answerGrounding: grounding
});

describe("datarus run's exit code and stdout", () => {
  it('0 and the answer for a grounded answer (and for one logged before the check)', () => {
    expect(runEnd(answered('Lyon', { grounded: true, unsupported: [] }), false)).toEqual({ code: RUN_EXIT.answered, stdout: ['Lyon'] });
    expect(runEnd(answered('Lyon'), false).code).toBe(0);
  });

  it('4, the answer, then the caution naming what no output showed', () => {
    const end = runEnd(answered('Paris with 50000', { grounded: false, unsupported: ['Paris', '50000'] }), false);
    expect(end.code).toBe(4);
    expect(end.stdout[0]).toBe('Paris with 50000');
    expect(end.stdout[1]).toMatch(/^Caution: no output of the code showed Paris, 50000\./);
  });

  it('3 for an episode without an answer, or with an empty one', () => {
    expect(runEnd({ status: 'step_limit', answer: null }, false)).toEqual({ code: 3, stdout: [] });
    expect(runEnd({ status: 'failed', answer: null }, false).code).toBe(3);
    expect(runEnd(answered('   '), false)).toEqual({ code: 3, stdout: [] });
  });

  it('130 when interrupted before an answer; an answer that came first still counts', () => {
    expect(runEnd({ status: 'stopped', answer: null }, true).code).toBe(130);
    expect(runEnd(answered('Lyon', { grounded: true, unsupported: [] }), true).code).toBe(0);
  });

  it('the delivered answer (brought into the asked form) is what is printed', () => {
    const end = runEnd({ ...answered('3.14159', { grounded: true, unsupported: [] }), answerForm: { text: '3.14', fixes: [], problems: [] } }, false);
    expect(end.stdout).toEqual(['3.14']);
  });
});
