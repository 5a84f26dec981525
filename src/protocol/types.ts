/**
 * Types of the Datarus tag protocol.
 *
 * Agentic mode, one step per model turn:
 *
 *   <step>
 *   <thought>what and why</thought>
 *   <action>python_executor</action>
 *   <action_input>
 *   code
 *   </action_input>
 *   </step>
 *
 * The harness (never the model) appends `<observation>…</observation>`; the final
 * turn is `<stop_analysis><thought>…</thought><answer>…</answer></stop_analysis>`.
 */

/** The only action the Datarus harness executes. */
export const PYTHON_EXECUTOR = 'python_executor';

/** A step as the parser understood it. */
export interface ParsedStep {
  thought: string;
  action: string;
  code: string;
  /** Set only when parsing with harness observations allowed. */
  observation?: string;
}

/** The final `<stop_analysis>` turn. */
export interface ParsedAnswer {
  thought: string;
  text: string;
}

/**
 * What went wrong, by kind. The kinds are stable: tools and rewards key on them.
 */
export type ViolationKind =
  /** The model wrote an `<observation>`; its content is discarded. */
  | 'fabricated_observation'
  /** A step with no code, or only whitespace. */
  | 'empty_code'
  /** `<action>` names something other than `python_executor`. */
  | 'unknown_action'
  /** A step without `<action>`: `python_executor` is assumed. */
  | 'missing_action'
  /** Neither a step nor an answer anywhere in the text. */
  | 'no_structure'
  /** The text ended inside an open tag. */
  | 'truncated'
  /** Non-whitespace text outside any tag. */
  | 'text_outside_tags'
  /** A closing tag (or an inner tag) whose opening tag is missing. */
  | 'missing_open_tag'
  /** An opening tag closed implicitly by a later tag. */
  | 'unclosed_tag'
  /** A closing tag that closes nothing. */
  | 'stray_close_tag'
  /** A tag written in the wrong case, e.g. `<Step>`. */
  | 'tag_case'
  /** Markdown code fences around the code inside `<action_input>`. */
  | 'code_fence'
  /** More than one `<action_input>` (or `<thought>`, `<action>`) in one step. */
  | 'multiple_actions'
  /** Steps or text after the final answer. */
  | 'content_after_answer';

export interface Violation {
  kind: ViolationKind;
  message: string;
}

/** What the parser made of a whole text. */
export interface ParseResult {
  steps: ParsedStep[];
  answer: ParsedAnswer | null;
  violations: Violation[];
  /** Text of a `<think>` block or before a leading `</think>`, if any. */
  reasoning: string;
}

/** Events emitted while text streams in, each as soon as its construct is complete. */
export type ParseEvent =
  | { type: 'thought'; step: number; text: string }
  | { type: 'code'; step: number; action: string; code: string }
  | { type: 'step'; step: number; value: ParsedStep }
  | { type: 'answer'; value: ParsedAnswer }
  | { type: 'violation'; value: Violation };

export interface ParserOptions {
  /**
   * Accept `<observation>` right after a step as the harness's (for parsing a
   * whole recorded episode). When false (the default, for model output) every
   * `<observation>` is a `fabricated_observation` and its content is dropped.
   */
  harnessObservations?: boolean;
}
