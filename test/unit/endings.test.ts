import { describeEnding } from '../../src/lab/endings';
import type { Episode, EpisodeStep } from '../../src/episode/types';

const step = (status: EpisodeStep['status']) => ({ status }) as EpisodeStep;
const episode = (status: Episode['status'], steps: EpisodeStep[], reason?: string) =>
  ({ status, steps, reason, answer: null }) as unknown as Episode;

describe('describeEnding', () => {
  it('states the error limit once, in one sentence', () => {
    const text = describeEnding(episode('error_limit', Array.from({ length: 5 }, () => step('error')), '5 steps in a row raised errors'));
    expect(text).toBe('stopped: 5 steps in a row raised errors');
    expect(text.match(/in a row/g)).toHaveLength(1);
  });

  it('counts only steps that were real turns', () => {
    expect(describeEnding(episode('answered', [step('ok'), step('invalid'), step('ok')]))).toBe('answered after 2 steps');
    expect(describeEnding(episode('answered', [step('ok')]))).toBe('answered after 1 step');
  });

  it('says when the loop had to ask for the answer', () => {
    const asked = { ...episode('answered', [step('ok'), step('skipped'), step('skipped')]), answerRequest: { afterSteps: 3, reason: 'repeating', message: '…' } } as Episode;
    expect(describeEnding(asked)).toBe('answered after 3 steps (asked for the answer: it kept writing the same code)');
  });

  it('gives the reason of a stop or a failure', () => {
    expect(describeEnding(episode('stopped', [step('aborted')], 'the kernel restarted'))).toBe('stopped after 1 step: the kernel restarted');
    expect(describeEnding(episode('stopped', []))).toBe('stopped after 0 steps');
    expect(describeEnding(episode('failed', [], 'the model host failed mid-turn: gone.'))).toBe('failed: the model host failed mid-turn: gone');
    expect(describeEnding(episode('step_limit', [step('ok'), step('ok')]))).toBe('stopped at the step limit (2 steps)');
  });
});
