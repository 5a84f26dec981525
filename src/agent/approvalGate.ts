/**
 * Approval with a user at hand (Analyze in JupyterLab): under "ask" every step
 * waits for the user's choice; under "auto", or once the user chose "Allow the
 * rest", a step runs unasked unless the code policy flagged it, and then it
 * waits with the reason. "Allow the rest" never covers a flagged step.
 */
import { describeRisks, refusedObservation } from './codePolicy';
import type { AgentHooks, Approval } from './loop';
import type { ParsedStep } from '../protocol';

export type ApprovalMode = 'auto' | 'ask';

/** What the user can answer: the loop's decisions, or run this and the rest unasked. */
export type UserChoice = Approval | { action: 'allow-rest'; code?: string };

/** `ask` shows the step (and `risk`, why it waits, when it was flagged) and resolves with the user's choice. */
export function interactiveApproval(
  mode: ApprovalMode,
  ask: (step: number, parsed: ParsedStep, risk: string | undefined) => Promise<UserChoice>
): NonNullable<AgentHooks['approve']> {
  let allowRest = mode === 'auto';
  return async (step, parsed, risks) => {
    if (allowRest && risks.length === 0) {
      return { action: 'run', code: parsed.code };
    }
    const choice = await ask(step, parsed, risks.length > 0 ? describeRisks(risks) : undefined);
    if (choice.action === 'allow-rest') {
      allowRest = true;
      return { action: 'run', code: choice.code };
    }
    return choice;
  };
}

/**
 * Approval "auto" where nobody can be asked (the `%%datarus` magic in a frontend without stdin,
 * such as `jupyter execute`): unflagged steps run, a flagged one is refused and the model reads why.
 */
export function refuseFlagged(why: string): NonNullable<AgentHooks['approve']> {
  return async (_step, _parsed, risks) => (risks.length > 0 ? { action: 'refuse', observation: refusedObservation(risks, why) } : { action: 'run' });
}
