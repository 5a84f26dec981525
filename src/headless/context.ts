import { gatherContext } from '../agent/gatherContext';
import type { CodeRunner } from '../agent/types';

/**
 * What the model reads before the question, gathered in the episode's kernel
 * exactly as Analyze gathers it in a notebook (no cells: a fresh kernel has none).
 */
export function headlessContext(question: string, runner: CodeRunner): Promise<string> {
  return gatherContext({ question, inspect: runner.inspect ? expression => runner.inspect!(expression) : undefined });
}
