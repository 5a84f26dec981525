/**
 * The code policy: before a model-written step runs, under every approval
 * mode, the kernel classifies it silently with Python's own `ast`
 * (codePolicyScript.ts) into what needs the user's approval: network access,
 * processes and shell escapes, package installs, writes or deletes outside
 * the working folder, credential reads, and code it cannot read (built at run
 * time, `getattr(__import__('os'), 'system')`). The loop hands the findings to
 * its approval hook: Analyze asks the user even under approval "auto";
 * headless runs refuse (`--approve`) and the model is told why.
 *
 * A guard, not a sandbox: it reads what the code says, and code that hides
 * what it does well enough gets past it. It keeps data files from steering
 * an unattended agent into the obvious actions; it does not contain a hostile one.
 */
import type { RiskCategory, RiskFinding } from '../episode/types';
import { CODE_POLICY_PY } from './codePolicyScript';
import { asJsonRepr } from './inspect';

export type { RiskCategory, RiskFinding };

/** Every category, in the order the settings list them. */
export const RISK_CATEGORIES: readonly RiskCategory[] = ['network', 'subprocess', 'install', 'write_outside', 'credentials', 'dynamic', 'unchecked'];

/** What the loop asks before each step; `check` resolves to the findings that need approval. */
export interface CodePolicy {
  check(code: string): Promise<RiskFinding[]>;
}

/**
 * A Python expression (a silent `user_expressions` entry) whose repr is the JSON list of findings:
 * the classifier runs in a namespace of its own and reads the kernel's names (`globals()`) only to
 * know what an earlier step imported.
 */
export function policyExpression(code: string): string {
  return asJsonRepr(
    `__import__('json').dumps((lambda ns: (exec(${JSON.stringify(CODE_POLICY_PY)}, ns), ns['classify'](${JSON.stringify(code)}, __import__('os').getcwd(), globals()))[1])({}))`
  );
}

const UNCHECKED: RiskFinding = { category: 'unchecked', reason: 'the kernel could not check what this code does' };

function isFinding(value: unknown): value is RiskFinding {
  const f = value as RiskFinding;
  return typeof f === 'object' && f !== null && RISK_CATEGORIES.includes(f.category) && typeof f.reason === 'string';
}

/** The findings for a step, read through a silent evaluation; `unchecked` when the kernel gives no answer. */
export async function classifyInKernel(inspect: (expression: string) => Promise<string | null>, code: string): Promise<RiskFinding[]> {
  const text = await inspect(policyExpression(code)).catch(() => null);
  try {
    const parsed: unknown = text === null ? null : JSON.parse(text);
    return Array.isArray(parsed) ? parsed.filter(isFinding).map(f => ({ category: f.category, reason: f.reason, line: typeof f.line === 'number' ? f.line : null })) : [UNCHECKED];
  } catch {
    return [UNCHECKED];
  }
}

/** The policy over a kernel, leaving out the categories the user allows unasked. */
export function kernelPolicy(inspect: ((expression: string) => Promise<string | null>) | undefined, allowed: readonly RiskCategory[] = []): CodePolicy {
  return {
    async check(code) {
      const findings = inspect ? await classifyInKernel(inspect, code) : [UNCHECKED];
      return findings.filter(f => !allowed.includes(f.category));
    }
  };
}

/** "opens a network connection to 127.0.0.1:30758 (socket.connect, line 3); reads the environment …" */
export function describeRisks(risks: readonly RiskFinding[]): string {
  return risks.map(r => (r.line ? `${r.reason}, line ${r.line}` : r.reason)).join('; ');
}

/** The observation of a step refused because nobody could approve it: the model is told why, and what to do instead. */
export function refusedObservation(risks: readonly RiskFinding[], how: string): string {
  return (
    `[not run: the code policy refused this step because it ${describeRisks(risks)}. ${how} ` +
    'Do the analysis with the data in the working folder, without network access, shell commands, package installs, ' +
    'credentials or files outside the folder.]'
  );
}
