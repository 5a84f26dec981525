/**
 * What the model reads before the question, gathered the same way by every
 * front door (Analyze in JupyterLab, `datarus run`/`eval`/`rollouts`): the data
 * files (those the question names, else those in the kernel's working folder),
 * the kernel's DataFrames, and the notebook's recent cells, within a token
 * budget. The same question on the same kernel state gets the same context,
 * so a benchmark run headless measures what a user gets in the notebook.
 */
import { buildContext, ContextCell, FrameInfo, FRAMES_EXPRESSION } from './context';
import { describeDataFiles } from './dataFiles';

/** Tokens of context when the caller does not say (Analyze's `contextTokenBudget` setting defaults to it too). */
export const DEFAULT_CONTEXT_TOKENS = 1500;

export interface ContextSources {
  question: string;
  /** The notebook's cells up to the active one (none headless). */
  cells?: ContextCell[];
  /** Evaluates a Python expression silently in the kernel (a runner's `inspect`); without it only cells are read. */
  inspect?: (expression: string) => Promise<string | null>;
  /** Data files named apart from the question (the magic's `--data`), described instead of those it names. */
  dataFiles?: string[];
  /** Default DEFAULT_CONTEXT_TOKENS. */
  budgetTokens?: number;
}

function parseFrames(json: string | null): FrameInfo[] {
  try {
    const frames: unknown = json ? JSON.parse(json) : [];
    return Array.isArray(frames) ? (frames as FrameInfo[]) : [];
  } catch {
    return [];
  }
}

/** The context text for a question; never throws for a kernel that cannot answer (it then tells less). */
export async function gatherContext(sources: ContextSources): Promise<string> {
  const cells = sources.cells ?? [];
  const budget = sources.budgetTokens ?? DEFAULT_CONTEXT_TOKENS;
  const inspect = sources.inspect;
  if (!inspect) {
    return buildContext(cells, [], budget);
  }
  // One after the other: a kernel answers one request at a time anyway.
  const files = await describeDataFiles(sources.question, inspect, sources.dataFiles);
  const frames = parseFrames(await inspect(FRAMES_EXPRESSION).catch(() => null));
  return buildContext(cells, frames, budget, files);
}
