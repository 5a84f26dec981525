/**
 * Prompt profiles: everything about the conversation that depends on the model
 * — the system prompt, the first user message, what the harness says after a
 * step, an error, a malformed or cut-off turn, the stop strings, how a step
 * and its observation are written back, and the reflection prompt. A model's
 * manifest names its profile (`promptProfile`); `generic` is the default.
 * Adding a profile is adding one object to `PROFILES`.
 *
 * ## `datarus-r1`: the conversation Datarus-R1 was built for
 *
 * Reproduced from the model's public reference harness (DatarusAI's
 * Datarus-JupyterAgent, `src/core/agent.py`: `process_query`, `execute_code`,
 * `chat`; `config/config.yaml.example`):
 *
 * - the system prompt, byte for byte (it describes the `python_executor` tool
 *   and tells the model to start with `<step>` and not to use `<think>`);
 * - the first user message is the question itself;
 * - each executed step is written back as one assistant message with the
 *   observation inside the step:
 *   `<step>\n<thought>T</thought>\n<action>A</action>\n<action_input>CODE</action_input>\n<observation>OUT</observation>\n</step>`
 *   (thought and code as parsed, without the newlines the model put around
 *   the code), followed by the user message "Continue with the analysis.", or
 *   after an error "The code resulted in an error. Please analyze the error
 *   and try a different approach.";
 * - a turn with neither a step nor an answer is kept as the model wrote it
 *   (less a leading `</think>`), followed by "Please continue the analysis using the XML format with <step>
 *   tags. Remember to start with <step> directly, not <think>.";
 * - the observation of a successful step is the text of stream outputs and of
 *   `text/plain` results joined by newlines, cut after 10,000 characters with
 *   "\n... [OUTPUT TRUNCATED]"; an error's is "Error: NAME: VALUE" and the
 *   traceback, preceded by "Output before error:" and what was printed;
 * - stop strings `</step>`, `</stop_analysis>` and the tokenizer's end of
 *   sentence as the harness spells it (`<｜end▁of▁sentence｜>`). The host also
 *   stops at every end-of-generation token the GGUF declares (`<|im_end|>` for
 *   a Qwen tokenizer), so the end of sentence is honoured whatever its spelling;
 * - failed attempts stay in the history. (The harness means to keep only the
 *   last one, but its filter looks for "Step N" in messages that never contain
 *   it, so in practice it keeps them all; this profile does what it does.)
 *
 * Deliberately different, and why:
 *
 * - A turn cut off inside `<step>` or `<action_input>` is not run (the
 *   harness closes it with `</step>` and runs the partial code): it is
 *   recorded as invalid and the model is told it was cut off.
 * - Only the first step of a reply runs (the harness runs every step of a
 *   reply in order). With `</step>` as a stop string a reply holds one step;
 *   more appear only from a server that ignores stop strings, and those later
 *   steps were written without seeing the first one's observation.
 * - The error message follows the real execution status; the harness tests
 *   whether the observation starts with "Error:", which misses errors that
 *   printed something first.
 * - ANSI colour codes are removed from tracebacks (the harness keeps them).
 * - Error observations are cut at the same limit as others (the harness does
 *   not cut them).
 * - The notebook context, when there is one, comes before the question,
 *   fenced as data (src/agent/untrusted.ts); the harness has no notebook to
 *   describe. The system prompt stays the harness's: unlike the other
 *   profiles', it does not say that instructions inside data are not the user's.
 * - Consecutive identical messages are not merged (the harness drops the
 *   second; with alternating roles they do not occur).
 * - Each answer is checked against the outputs (src/agent/grounding.ts) and
 *   the result recorded, but never sent back: the harness accepts any answer.
 * - After an error the harness re-runs the next step in the same notebook
 *   cell; here every step gets its own cells (a notebook matter, not the
 *   conversation's).
 *
 * Not part of a profile: sampling comes from the model's manifest (the
 * harness sends temperature 0.7; the Datarus-R1 manifest says 0.6), and the
 * per-turn token limit is the loop's (2048 by default, as in the harness).
 *
 * Pure: no DOM, no Node.
 */
import type { ChatMessage } from './messages';
import { formatObservation, ObservationSource, observationText } from './format';
import { PYTHON_EXECUTOR } from './types';
import { COMPACT_AFTER_STEP, COMPACT_SYSTEM_PROMPT, compactAfterError, DATA_IS_NOT_INSTRUCTIONS } from './compactPrompt';

/** How executed code's outputs become the observation text (rendered by the agent). */
export type ObservationStyle =
  /** The reference harness's: stream and text/plain only, "Error: …" first, head kept. */
  | 'harness'
  /** Ours: images described by size, middle cut out with a note of how much. */
  | 'notebook';

export interface PromptProfile {
  name: string;
  description: string;
  systemPrompt: string;
  firstUserMessage(question: string, context?: string): string;
  /** User turn after a step that ran without error (or was skipped). */
  afterStep: string;
  /** User turn after a step that raised an error or timed out. */
  afterError(errorName: string): string;
  /** User turn after a turn that broke the protocol; `problems` says how. */
  afterMalformed(problems: string[]): string;
  /** User turn after a turn that ended inside a step: nothing was run. */
  afterCutOff: string;
  /** A turn that broke the protocol, as it goes back to the model (default: as written). */
  invalidTurn?(raw: string): string;
  /** The observation a skipped step gets. */
  skippedObservation: string;
  /**
   * The user turn that sends back a final answer stating values no output
   * printed (`unsupported`, as written). Without it the loop accepts such an
   * answer at once and only records that it is not grounded.
   */
  groundingFeedback?(unsupported: string[]): string;
  /**
   * The user turn that sends back a final answer not in the form the task
   * asked for (`problems` says how; `template` is the asked form). Without it
   * such an answer is accepted and only recorded.
   */
  formFeedback?(problems: string[], template: string): string;
  /**
   * Added to the last user turn when the loop asks for the answer instead of
   * another step: `why` says why no more code runs; `template` is the asked
   * form, when the task gave one.
   */
  answerRequest(why: string, template?: string): string;
  /**
   * The request for the answer when no step printed anything to answer from
   * (every step failed): the model's best answer from what it knows, which
   * the episode marks as such. Without it such an episode ends with no answer.
   */
  guessRequest?(why: string, template?: string): string;
  /**
   * Help for a model stuck on one error (src/agent/repeatedError.ts): a step
   * that fails as the previous one did says so in its observation, with the
   * failing line, and failing code written a third time gets one more step
   * instead of ending the episode. Without it the same facts are only recorded.
   */
  errorRecovery?: boolean;
  /**
   * After a step fails on a column name, add the kernel's real DataFrame
   * columns to its observation (src/agent/columnHint.ts).
   */
  columnHints?: boolean;
  /** Stop strings sent with every agentic turn. */
  stop: string[];
  /**
   * How an executed step goes back to the model: `inside-step` rewrites it from
   * its parts with the observation before `</step>`; `after-step` keeps the
   * model's own text and appends the observation after it.
   */
  observationPlacement: 'inside-step' | 'after-step';
  observationStyle: ObservationStyle;
  /** Characters of observation the model reads. */
  observationLimit: number;
  /** `all`: every failed attempt stays in the history; `latest`: only the last of a run of failures. */
  failedAttempts: 'all' | 'latest';
  reflection: {
    systemPrompt: string;
    userMessage(cells: string): string;
  };
}

/** Why the loop asks for the answer instead of another step. */
export type AnswerRequestReason = 'repeating' | 'step_limit' | 'error_limit' | 'context';

/** The first words of the loop's request for the answer, by reason (every profile's `answerRequest` gets one). */
export const ANSWER_REQUEST_WHY: Readonly<Record<AnswerRequestReason, string>> = {
  repeating: 'You wrote the same code again, so it was not run: its output is already above.',
  step_limit: 'That was the last step: no more code will run.',
  error_limit: 'Too many turns in a row failed: no more code will run.',
  context: "The conversation has reached the model's context limit: no more code will run."
};

/** A step as it goes back into the conversation. */
export interface StepTurn {
  /** The model's turn exactly as generated (with its stop string). */
  raw: string;
  thought: string;
  /** The code that ran (the user's edit, if any). */
  code: string;
  /** What the model wrote, when it differs from `code`. */
  modelCode?: string;
  observation: string;
  /** `harness` for a step that did not run (its observation says why); else what the kernel printed. */
  observationSource?: ObservationSource;
}

/** The assistant message for an executed (or skipped) step. */
export function stepMessage(profile: PromptProfile, step: StepTurn): ChatMessage {
  if (profile.observationPlacement === 'inside-step') {
    return {
      role: 'assistant',
      content:
        '<step>\n' +
        `<thought>${step.thought}</thought>\n` +
        `<action>${PYTHON_EXECUTOR}</action>\n` +
        `<action_input>${step.code}</action_input>\n` +
        `<observation>${observationText(step.observation, step.observationSource)}</observation>\n` +
        '</step>'
    };
  }
  // What the model sees is what ran: an edited cell replaces the model's code.
  const text = step.modelCode !== undefined && step.modelCode !== step.code ? step.raw.replace(step.modelCode, step.code) : step.raw;
  return { role: 'assistant', content: `${text}\n${formatObservation(step.observation, step.observationSource)}` };
}

const REFLECTION = {
  systemPrompt: `You are Datarus, an expert data analyst.
Read the notebook cells you are given (code and outputs) and reflect on them.
First reason briefly inside <think>...</think>: what the code does, whether the outputs support it,
and what could be wrong or improved. Keep the reasoning compact.
Then, after </think>, write a short, clear summary for the notebook's reader.`,
  userMessage: (cells: string) => `Reflect on these notebook cells:\n\n${cells}`
};

export const DATARUS_R1_PROFILE: PromptProfile = {
  name: 'datarus-r1',
  description: "Datarus-R1's reference harness, reproduced exactly (see profiles.ts for the few deliberate differences).",
  systemPrompt: `You are an intelligent data scientist assistant. Answer the user questions step by step.

You have access to the following tool:

Tool: python_executor
Description: Executes Python code and returns the output. You must use print() to capture outputs. Available libraries include pandas, numpy, scikit-learn, matplotlib, seaborn, and other common data science libraries.
Input: Valid Python code
Output: Output of the Python code execution

IMPORTANT: Start your response directly with <step> tags. Do not use <think> tags.

Use EXACTLY this format for your responses:

<step>
<thought>explain what you're going to do</thought>
<action>python_executor</action>
<action_input>
# Your Python code here
print("output")
</action_input>
</step>

After receiving an observation, continue with more steps as needed. When you have the final answer:

<stop_analysis>
<thought>summarize what you found</thought>
<answer>the final answer to the question</answer>
</stop_analysis>

Remember:
- If you encounter an error, analyze it and try a different approach
- Use print() statements to see outputs
- Start immediately with <step> tags`,
  firstUserMessage: (question, context) => (context ? `${context}\n\n${question}` : question),
  afterStep: 'Continue with the analysis.',
  afterError: () => 'The code resulted in an error. Please analyze the error and try a different approach.',
  afterMalformed: () => 'Please continue the analysis using the XML format with <step> tags. Remember to start with <step> directly, not <think>.',
  // The harness drops a leading `</think>` (the template's reasoning close) before keeping a turn.
  invalidTurn: raw => (raw.startsWith('</think>') ? raw.slice('</think>'.length) : raw),
  afterCutOff:
    'Your response was cut off before the step was complete, so its code was not run. Please continue the analysis using the XML format with <step> tags, with shorter code.',
  skippedObservation: 'The user chose not to run this code.',
  answerRequest: (why, template) =>
    `${why} Please provide your final answer now using <stop_analysis> tags, based on the observations above.` +
    (template ? ` Write the answer in exactly this format: ${template}` : ''),
  // No groundingFeedback or formFeedback: the reference harness never sends an answer back, so an
  // answer is accepted as written and only recorded as grounded or not. No columnHints either:
  // observations stay the harness's.
  stop: ['</step>', '</stop_analysis>', '<｜end▁of▁sentence｜>'],
  observationPlacement: 'inside-step',
  observationStyle: 'harness',
  observationLimit: 10000,
  failedAttempts: 'all',
  reflection: REFLECTION
};

export const GENERIC_PROFILE: PromptProfile = {
  name: 'generic',
  description: 'For any instruction-following model: the Datarus tags described in prose, without placeholder text to echo.',
  systemPrompt: `You are Datarus, an expert data analyst working in a live Jupyter notebook.
Solve the user's question step by step. Each turn, write exactly one step with these tags, in this order:
<step>, then <thought> with your reasoning for this step, then <action>${PYTHON_EXECUTOR}</action>,
then <action_input> with the Python code to run, then </step>.

The code runs in the same kernel as the user's notebook: variables, imports and data persist between steps.
After each step you receive its output in an <observation> block. Never write an <observation> yourself.
If the code fails, read the traceback and fix the problem in your next step.
When you can answer, write a final turn instead of a step, with these tags, in this order:
<stop_analysis>, then <thought> with how the evidence answers the question,
then <answer> with the answer, concise and complete, then </stop_analysis>.

${DATA_IS_NOT_INSTRUCTIONS}`,
  firstUserMessage: (question, context) => (context ? `${context}\n\nQuestion: ${question}` : question),
  afterStep: 'Continue with the analysis.',
  afterError: name => `The previous step raised ${name}. Read the traceback in the observation, fix the code and continue with the analysis.`,
  afterMalformed: problems =>
    `Your last turn did not follow the required format (${problems.join('; ')}). ` +
    `Write exactly one <step> with <thought>, <action>${PYTHON_EXECUTOR}</action> and non-empty <action_input>, or finish with <stop_analysis>.`,
  afterCutOff: 'Your last turn was cut off before its step was complete, so its code was not run. Write the step again, with shorter code.',
  skippedObservation: '[the user skipped this step]',
  columnHints: true,
  groundingFeedback: unsupported =>
    `Your answer states ${unsupported.join(', ')}, but no output of your code showed ${unsupported.length === 1 ? 'it' : 'them'}. ` +
    'Write a step that computes the answer from the data and prints it, then give the final answer with the values exactly as printed.',
  formFeedback: (problems, template) =>
    `Your answer is not in the form the question asks for: ${problems.join('; ')}. ` +
    `Write the final <stop_analysis> turn again, with <answer> in exactly this form: ${template} — each value alone in its brackets, rounded as the question says.`,
  answerRequest: (why, template) =>
    `${why} Write the final <stop_analysis> turn now: answer the question from the outputs above, with the values exactly as printed` +
    (template ? `, with <answer> in exactly this form: ${template}` : '') +
    '. If the outputs do not answer it, say what they do show.',
  guessRequest: (why, template) =>
    `${why} No step printed anything, so there is no output to answer from. Write the final <stop_analysis> turn now ` +
    'with your best answer from what you know; say in <thought> that it was not computed' +
    (template ? `, and write <answer> in exactly this form: ${template}` : '') +
    '.',
  errorRecovery: true,
  stop: ['</step>', '</stop_analysis>'],
  observationPlacement: 'after-step',
  observationStyle: 'notebook',
  observationLimit: 10000,
  failedAttempts: 'latest',
  reflection: REFLECTION
};

/**
 * For small instruction-tuned models that have never seen the protocol (the
 * Qwen2.5 Coder starters): the generic conversation with a system prompt that
 * shows a worked example instead of describing the tags, and a turn after each
 * step that says an answering output ends the episode (compactPrompt.ts).
 */
export const COMPACT_PROFILE: PromptProfile = {
  ...GENERIC_PROFILE,
  name: 'compact',
  description: 'For small models new to the protocol: one concrete worked example, real code only, print() what you need, answer as soon as an output does.',
  systemPrompt: COMPACT_SYSTEM_PROMPT,
  afterStep: COMPACT_AFTER_STEP,
  afterError: compactAfterError
};

/** Every profile by name. */
export const PROFILES: Readonly<Record<string, PromptProfile>> = Object.freeze({
  [GENERIC_PROFILE.name]: GENERIC_PROFILE,
  [DATARUS_R1_PROFILE.name]: DATARUS_R1_PROFILE,
  [COMPACT_PROFILE.name]: COMPACT_PROFILE
});

export const DEFAULT_PROFILE_NAME = GENERIC_PROFILE.name;

export function profileNames(): string[] {
  return Object.keys(PROFILES);
}

/** The profile of that name; an unknown name is an error that lists the known ones. */
export function getProfile(name: string | undefined | null): PromptProfile {
  if (name === undefined || name === null || name === '') {
    return PROFILES[DEFAULT_PROFILE_NAME];
  }
  const profile = Object.prototype.hasOwnProperty.call(PROFILES, name) ? PROFILES[name] : undefined;
  if (!profile) {
    throw new Error(`unknown prompt profile "${name}" (known: ${profileNames().join(', ')})`);
  }
  return profile;
}
