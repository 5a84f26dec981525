/**
 * Approval in headless runs (`datarus run/eval/rollouts --approve`), where no
 * user is there to click: `never` runs every step (the policy's findings are
 * still recorded), `risky` (the default) refuses a step in which the code
 * policy found network access, a shell escape, an install, a write outside
 * the working folder, a credential read or code it cannot read, and `all`
 * refuses every step (nothing runs: a record of what the model would do). A
 * refused step is not run and the model reads why in its observation.
 */
import { refusedObservation } from '../agent/codePolicy';
import type { AgentHooks, Approval } from '../agent/loop';

export const APPROVE_MODES = ['never', 'risky', 'all'] as const;
export type ApproveMode = (typeof APPROVE_MODES)[number];
export const DEFAULT_APPROVE_MODE: ApproveMode = 'risky';

export const APPROVE_HELP =
  'which steps need approval, which nobody can give headless: never (run every step), risky (refuse steps the code policy flags: network, shell, installs, writes outside the working folder, credentials, unreadable code), all (refuse every step)';

export function headlessApproval(mode: ApproveMode): NonNullable<AgentHooks['approve']> {
  return async (_step, _parsed, risks): Promise<Approval> => {
    if (mode === 'all') {
      return { action: 'refuse', observation: '[not run: every step needs approval in this run (--approve all), and nobody is here to give it.]' };
    }
    if (mode === 'risky' && risks.length > 0) {
      return { action: 'refuse', observation: refusedObservation(risks, 'Such a step needs approval in this run (--approve risky), and nobody is here to give it.') };
    }
    return { action: 'run' };
  };
}
