/**
 * An episode as it is recorded: every step with its thought, code (and the
 * code the user changed it to), observation, error and timings, then the
 * answer. Versioned so that stored episodes can be migrated.
 */
import type { AnswerFix, AnswerRequestReason, ParsedAnswer, Violation } from '../protocol';

export const EPISODE_SCHEMA_VERSION = 1;

/** Outputs as nbformat 4 stores them (what `cell.model.outputs.toJSON()` gives). */
export interface NbOutput {
  output_type: 'stream' | 'execute_result' | 'display_data' | 'error' | 'update_display_data';
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

export type EpisodeStatus =
  | 'running'
  | 'answered'
  | 'stopped'
  | 'step_limit'
  | 'error_limit'
  | 'failed';

export interface EpisodeStep {
  index: number;
  thought: string;
  /** The code that ran (after any edit by the user). */
  code: string;
  /** What the model wrote, when the user edited it or the harness rewrote it (`rewrites`) before running. */
  modelCode?: string;
  /** Lines the harness rewrote before running (a `pip` from PATH made `%pip`, src/agent/kernelInstalls.ts). */
  rewrites?: CodeRewrite[];
  /**
   * What the code policy found in the step that needed the user's approval (src/agent/codePolicy.ts);
   * absent when it found nothing or did not look.
   */
  risks?: RiskFinding[];
  /** The step was not run because the policy's findings were not approved (headless: nobody to approve). */
  refused?: boolean;
  /** `skipped`: the user chose not to run it, or it was refused; `invalid`: the turn broke the protocol and nothing ran. */
  status: 'ok' | 'error' | 'timeout' | 'aborted' | 'skipped' | 'invalid';
  observation: string;
  error?: { ename: string; evalue: string };
  outputs?: NbOutput[];
  violations: Violation[];
  /** For an `invalid` turn: it ended inside a step (cut off), so nothing ran. */
  cutOff?: boolean;
  /** For an `invalid` turn: what was wrong with it, as the model was told. */
  problems?: string[];
  /**
   * The step raised the same error as the previous step that ran, on this line of its code (null: the
   * traceback did not say). Where the profile helps a stuck model, its observation says so.
   */
  repeatedError?: { line: string | null };
  /** A skipped step whose code repeated failing code once more: its observation gave the model one last step to change course. */
  lastChance?: boolean;
  /** The sampling temperature of this turn, when the loop raised it after a repeat of failing code (src/agent/loop.ts). */
  temperature?: number;
  /**
   * The start of this turn the loop wrote for the model after a repeat of failing code (the model continued it;
   * `raw` begins with it). The turn was sent `turnMessages` (src/episode/conversation.ts).
   */
  prefill?: string;
  /**
   * sha256 (hex) of the exact message list the model was sent for this turn
   * (`promptSha256` in src/episode/conversation.ts): exports check against it.
   */
  promptSha256?: string;
  /** The model's raw turn, exactly as generated (with its stop string). */
  raw: string;
  startedAt: string;
  endedAt: string;
  modelMs: number;
  kernelMs: number;
}

/**
 * What the code policy looks for in a model-written step: network access, processes and shell
 * escapes, package installs, writes or deletes outside the working folder, credential reads, code
 * the policy cannot read (built at run time, native code, interpreter internals), and `unchecked`
 * when the kernel could not classify the step at all.
 */
export type RiskCategory = 'network' | 'subprocess' | 'install' | 'write_outside' | 'credentials' | 'dynamic' | 'unchecked';

export interface RiskFinding {
  category: RiskCategory;
  /** Said to the user and the model: "opens a network connection to 127.0.0.1:30758 (socket.connect)". */
  reason: string;
  /** Line of the step's code, when known. */
  line?: number | null;
}

/** A piece of the model's code the harness changed before it ran, and why (`from` is empty for an added line). */
export interface CodeRewrite {
  from: string;
  to: string;
  why: string;
}

export interface Episode {
  schemaVersion: number;
  id: string;
  question: string;
  model: string;
  notebook?: string;
  /** The notebook context the model read before the question. */
  context?: string;
  startedAt: string;
  endedAt?: string;
  status: EpisodeStatus;
  /** Why the episode ended when it did not answer. */
  reason?: string;
  steps: EpisodeStep[];
  answer: ParsedAnswer | null;
  /** The prompt profile the conversation followed (src/protocol/profiles.ts); `generic` when absent. */
  promptProfile?: string;
  /** sha256 of the message list of the turn that wrote the answer. */
  answerPromptSha256?: string;
  /** The grounding check of the accepted answer; absent in episodes logged before the check. */
  answerGrounding?: AnswerGrounding;
  /** Answers sent back: once for not being grounded, once for not being in the asked form. */
  rejectedAnswers?: RejectedAnswer[];
  /** The accepted answer checked against the form the task asked for; absent when it asked none. */
  answerForm?: AnswerFormRecord;
  /**
   * The loop asked for the answer instead of another step (the model kept
   * writing the same code, or a limit was reached): part of the conversation,
   * appended to its last user turn.
   */
  answerRequest?: AnswerRequest;
  /**
   * Observations the loop shortened so the conversation fits the model's
   * context, in the order made: from turn `afterSteps` on, the step's
   * observation reads `observation`. Part of the conversation.
   */
  observationCuts?: ObservationCut[];
}

/** One observation shortened for the token budget (src/agent/budget.ts). */
export interface ObservationCut {
  /** Steps recorded when the cut was made: every prompt from then on carries it. */
  afterSteps: number;
  /** The step whose observation was shortened. */
  step: number;
  /** `shortened`: head and tail kept; `line`: reduced to its first line. */
  kind: 'shortened' | 'line';
  /** The observation the model reads from then on. */
  observation: string;
  /** Characters of the recorded observation left out. */
  cutChars: number;
}

/** The answer as delivered: the model's, with the fixes that needed no model (rounding as asked). */
export interface AnswerFormRecord {
  /** The answer with the fixes applied; what a scorer and the user read. */
  text: string;
  fixes: AnswerFix[];
  /** What is still not in the asked form. */
  problems: string[];
}

export interface AnswerRequest {
  /** Steps recorded before it. */
  afterSteps: number;
  /** Why the loop asked: the model repeated itself, or a limit was reached. */
  reason: AnswerRequestReason;
  /** The text added to the last user turn. */
  message: string;
  /** The model's turn when it was not an answer (the episode then ended without one). */
  raw?: string;
  /** No step had printed anything: the answer asked for is the model's best guess, not read from any output. */
  nothingPrinted?: boolean;
}

/**
 * A final answer the loop did not accept, because values it states appear in no
 * output (src/agent/grounding.ts) or it is not in the form the task asked for
 * (src/protocol/answerForm.ts), and the feedback sent back instead. Part of
 * the conversation: it follows the step it came after.
 */
export interface RejectedAnswer {
  /** How many steps were recorded before it: it comes after step `afterSteps - 1`. */
  afterSteps: number;
  /** The model's turn, exactly as generated. */
  raw: string;
  answer: ParsedAnswer;
  /** `grounding` (absent in logs before answer forms): values no output showed; `form`: not in the asked form. */
  kind?: 'grounding' | 'form';
  /** The values the answer states that no output showed, as written (empty for `form`). */
  unsupported: string[];
  /** For `form`: what was not in the asked form. */
  problems?: string[];
  /** The user turn sent back. */
  feedback: string;
  /** sha256 of the message list of the turn that wrote it. */
  promptSha256: string;
}

/** Whether the accepted answer's values appear in what the episode printed. */
export interface AnswerGrounding {
  grounded: boolean;
  /** The values it states that no output showed (empty when grounded). */
  unsupported: string[];
}

/** An episode from the log, with the feedback and edits recorded about it. */
export interface StoredEpisode {
  episode: Episode;
  feedback: { step: number | null; rating: 'up' | 'down'; at: string }[];
  edits: { step: number; original: string; edited: string; at: string }[];
}
