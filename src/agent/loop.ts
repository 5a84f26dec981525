/**
 * The Datarus agent loop. Each turn the model writes one step; the step's code
 * runs in the live kernel; the observation goes back to the model; until it
 * writes `<stop_analysis>`, or a limit is reached, or the user stops it.
 *
 * The conversation is not built here: each turn's messages come from
 * `conversation()` (src/episode/conversation.ts) applied to the episode
 * recorded so far, in the words of the episode's prompt profile
 * (src/protocol/profiles.ts), and the sha256 of what was sent is recorded with
 * the step. Exports use the same function, so they reproduce every prompt.
 *
 * A final answer stating values that no observation showed (grounding.ts) is
 * sent back once with the profile's feedback, and recorded in the episode so the
 * conversation can be rebuilt; a second such answer is accepted and recorded
 * as not grounded. When the task states the answer's form (answerForm.ts), an
 * answer not in it is sent back once the same way; what needs no model
 * (rounding to the decimals asked) is fixed and recorded.
 *
 * An episode that would end without an answer — the model wrote the same code
 * again and again, or the step or error limit was reached — gets one more turn
 * that may only be the answer, asked for from the outputs already shown. When
 * no step printed anything but some ran, a profile with a `guessRequest` asks
 * for the model's best answer, recorded as not grounded in any output; any other
 * (`datarus-r1`) ends without one.
 *
 * A model stuck on one error (repeatedError.ts), in a profile with
 * `errorRecovery`: a step that fails with the same error as the step before
 * says so in its observation, with the failing line, and asks for a different
 * approach; failing code written a third time gets one last step, told so,
 * before the loop asks for the answer. A step that fails on a call the
 * installed libraries removed (apiChanges.ts: `squared=False`) is told what
 * replaced it. Other profiles only record the repeat.
 *
 * Before each turn the prompt is counted against the model's context
 * (budget.ts): when it and the reply would not fit, the oldest observations
 * are shortened, then older ones cut to one line, each cut recorded in the
 * episode so every prompt rebuilds; when even that does not fit, the model is
 * asked for its answer (each step keeps room for that request after it).
 * Without a count (a model side that cannot count) there is no budget; a
 * server that then refuses a prompt for its length gets it once more, cut.
 *
 * A turn that ends inside a step (cut off at the token limit, or a step never
 * closed) is never run: its code may be half a statement. Only the first step
 * of a reply runs; the stop string `</step>` normally ends the reply there.
 */
import {
  AnswerForm,
  answerTemplate,
  answerTurnGrammar,
  answerValues,
  checkAnswerForm,
  DatarusStreamParser,
  getProfile,
  parseDatarus,
  ParseResult,
  ParsedAnswer,
  ParsedStep,
  ANSWER_REQUEST_WHY,
  AnswerRequestReason,
  PYTHON_EXECUTOR,
  Violation
} from '../protocol';
import { conversation, promptSha256, withTurnStart } from '../episode/conversation';
import type { AnswerRequest, Episode, EpisodeStep, RejectedAnswer } from '../episode/types';
import { EPISODE_SCHEMA_VERSION } from '../episode/types';
import { cutAfterRefusal, fitToContext, isContextRefusal, PromptSize } from './budget';
import type { CodePolicy, RiskFinding } from './codePolicy';
import { refusedObservation } from './codePolicy';
import { columnFix, columnMatch, columnMatchNote, formatColumnHint, kernelColumns } from './columnHint';
import { apiChangeHint, rewriteRemovedCalls } from './apiChanges';
import { answerSources, checkGrounding } from './grounding';
import { kernelInstalls } from './kernelInstalls';
import type { ChatMessage } from './messages';
import { executionError, observationFor } from './observation';
import { DIFFERENT_APPROACH, failingLine, lastChanceObservation, repeatedErrorNote, sameFailure, StepFailure, stuckTurnStart } from './repeatedError';
import { addStandardImports } from './standardImports';
import { RepeatedCode, RepetitionWatch, SAME_CODE_LIMIT, SAME_CODE_OBSERVATION, SAME_FAILING_CODE_OBSERVATION } from './stuck';
import type { AgentModel, CodeRunner, ExecutionResult } from './types';

export interface AgentLimits {
  maxSteps: number;
  maxConsecutiveErrors: number;
  /** Characters of each observation the model reads; the profile's limit when not given. */
  observationLimit?: number;
  cellTimeoutMs: number;
  maxTokensPerTurn: number;
}

export const DEFAULT_LIMITS: AgentLimits = {
  maxSteps: 30,
  maxConsecutiveErrors: 5,
  cellTimeoutMs: 120000,
  maxTokensPerTurn: 2048
};

/** The fewest tokens an answer turn is sent with when the context has no room for its whole `maxTokens`. */
const MIN_ANSWER_TOKENS = 64;
/** What a step's one-line output adds to the conversation, with its tags and the next user turn (characters). */
const STEP_LINE_CHARS = 160;
/** The sampling temperature after a repeat of failing code, until a step runs (or the turn's own, if higher). */
export const UNSTICK_TEMPERATURE = 0.8;

/**
 * What the user decided about a step before it runs; `refuse` is the policy's
 * answer where nobody can approve (headless): `observation` tells the model why.
 */
export type Approval = { action: 'run'; code?: string } | { action: 'skip' } | { action: 'stop' } | { action: 'refuse'; observation: string };

export interface AgentHooks {
  /** Text of the turn as it streams in. */
  onText?(step: number, text: string): void;
  /** The thought of a step, as soon as its tag closes. */
  onThought?(step: number, thought: string): void;
  /**
   * Asked before each step runs; resolves to run (possibly edited), skip, stop or refuse.
   * `risks`: what the code policy found that needs approval (empty when nothing, or no policy).
   */
  approve?(step: number, parsed: ParsedStep, risks: RiskFinding[]): Promise<Approval>;
  onStepDone?(step: EpisodeStep): void;
  /** A final answer was sent back for stating values no output showed; the next turn has the same step number. */
  onAnswerRejected?(rejected: RejectedAnswer): void;
  onAnswer?(episode: Episode): void;
  onEnd?(episode: Episode): void;
}

export interface AgentRunOptions {
  episodeId: string;
  question: string;
  /** The prompt profile, by name (src/protocol/profiles.ts); `generic` when absent. */
  profile?: string;
  /** Summary of the notebook and the kernel's data, put before the question. */
  context?: string;
  notebook?: string;
  limits?: Partial<AgentLimits>;
  temperature?: number;
  /** The form the answer must take (a task's `@name[value]` format), when the task states one. */
  answerForm?: AnswerForm | null;
  /** A grammar for every turn, or per model turn counted from 0 (tests force exact turns this way). */
  grammar?: string | ((turn: number) => string | undefined);
  signal?: AbortSignal;
  hooks?: AgentHooks;
  /**
   * Classifies each step before it runs (codePolicy.ts); its findings go to `hooks.approve`.
   * Without an `approve` hook a step with findings is refused: nobody could approve it.
   */
  policy?: CodePolicy;
  /** Clock, for deterministic tests. */
  now?: () => number;
}

export class AgentLoop {
  constructor(
    private readonly _model: AgentModel,
    private readonly _runner: CodeRunner
  ) {}

  async run(options: AgentRunOptions): Promise<Episode> {
    const now = options.now ?? Date.now;
    let profile = getProfile(undefined);
    let profileError: string | null = null;
    try {
      profile = getProfile(options.profile);
    } catch (err) {
      profileError = (err as Error).message;
    }
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    const observationLimit = limits.observationLimit ?? profile.observationLimit;
    const hooks = options.hooks ?? {};
    const signal = options.signal ?? new AbortController().signal;
    const iso = () => new Date(now()).toISOString();
    const episode: Episode = {
      schemaVersion: EPISODE_SCHEMA_VERSION,
      id: options.episodeId,
      question: options.question,
      model: this._model.name,
      notebook: options.notebook,
      context: options.context || undefined,
      promptProfile: profile.name,
      startedAt: iso(),
      status: 'running',
      steps: [],
      answer: null
    };
    const finish = (status: Episode['status'], reason?: string): Episode => {
      episode.status = status;
      episode.reason = reason;
      episode.endedAt = iso();
      hooks.onEnd?.(episode);
      return episode;
    };
    if (profileError) {
      return finish('failed', profileError);
    }
    if (options.question.trim() === '') {
      return finish('failed', 'the question is empty');
    }

    const form = options.answerForm ?? null;
    const template = form ? answerTemplate(form) : undefined;
    let consecutiveErrors = 0;
    const sameCode = new RepeatedCode();
    /** The error the last step that ran raised, and the line that raised it (a repeat of it would raise it again). */
    let lastFailure: StepFailure | null = null;
    let lastFailingLine: string | null = null;
    /** For the turn start after a failure on a misspelt column: how to write it (columnHint.ts). */
    let lastColumnFix: string | undefined;
    /** Whether failing code written once more was given one last step instead of ending the episode. */
    let lastChanceGiven = false;
    /** Model turns so far (an answer sent back is one); per-turn grammars count them. */
    let turn = 0;
    /** The grammar the loop sets for the next turn when only an answer may follow. */
    let answerOnly: string | undefined;
    /**
     * Set after the model wrote failing code again (profiles with errorRecovery): the turns until a step runs
     * are sampled hotter. At the starter's 0.2 (and at 0) a 1.5B model sent the same failing code four times
     * whatever the observation said; the notes alone did not change its most likely turn.
     */
    let unstickTemperature: number | undefined;
    /**
     * Set after a step failed, where the model side continues turns (profiles with errorRecovery): the start of
     * the next turn, written from the error (repeatedError.ts), because a copied turn begins with a copied
     * thought: on the DABench dev split the starter's plain turn after an error sent the same failing code
     * again 10 times in 13, and such turns, never run, took half its model time.
     */
    let unstickStart: string | undefined;

    /** The next prompt's tokens and the context, as the model side counts them; no count, no budget. */
    const countPrompt = async (messages: ChatMessage[]): Promise<PromptSize> =>
      (await this._model.countTokens?.(options.episodeId, messages)) ?? { tokens: 0, contextSize: null };

    /**
     * One model turn; a server that refuses the prompt for its length (one that
     * cannot count it beforehand) gets it once more with the observations cut.
     */
    const modelTurn = async (index: number, maxTokens = limits.maxTokensPerTurn) => {
      try {
        return await oneModelTurn(index, maxTokens);
      } catch (err) {
        if (!isContextRefusal(err) || signal.aborted || !cutAfterRefusal(episode)) {
          throw err;
        }
        turn--; // the same turn again, with the same grammar
        return oneModelTurn(index, maxTokens);
      }
    };

    /** One model turn on the conversation recorded so far; `index` is the step it may become. */
    const oneModelTurn = async (index: number, maxTokens = limits.maxTokensPerTurn) => {
      const parser = new DatarusStreamParser();
      const given = typeof options.grammar === 'function' ? options.grammar(turn) : options.grammar;
      turn++;
      // A grammar the caller gives shapes the whole turn, so the loop writes no start of its own under one.
      const prefill = given === undefined ? unstickStart : undefined;
      const messages = prefill ? withTurnStart(conversation(episode), prefill) : conversation(episode);
      const sent = promptSha256(messages);
      // A turn that keeps repeating itself is cut off through its own signal, apart from the user's Stop.
      const repetition = new RepetitionWatch();
      const turnAbort = new AbortController();
      const onStop = () => turnAbort.abort();
      signal.addEventListener('abort', onStop);
      const modelStart = now();
      /** Text of the turn as it streams to the hooks: the loop's start first, then what the model writes. */
      const stream = (text: string) => {
        hooks.onText?.(index, text);
        for (const event of parser.feed(text)) {
          if (event.type === 'thought') {
            hooks.onThought?.(index, event.text);
          }
        }
      };
      if (prefill) {
        stream(prefill);
      }
      let reply;
      try {
        reply = await this._model.complete(
          {
            episodeId: options.episodeId,
            messages,
            stop: profile.stop.slice(),
            maxTokens,
            temperature: unstickTemperature ?? options.temperature,
            grammar: given ?? answerOnly,
            signal: turnAbort.signal
          },
          text => {
            if (repetition.feed(text)) {
              turnAbort.abort();
              return;
            }
            stream(text);
          }
        );
      } finally {
        signal.removeEventListener('abort', onStop);
      }
      const raw = (prefill ?? '') + (repetition.repeating ? repetition.kept() : reply.text + (reply.stopString ?? ''));
      return {
        stopped: signal.aborted || (reply.stopReason === 'abort' && !repetition.repeating),
        repeating: repetition.repeating,
        raw,
        // The turn is judged on the whole text the model returned, whatever was streamed.
        parsed: parseDatarus(raw),
        stopReason: reply.stopReason,
        sent,
        modelMs: now() - modelStart,
        raisedTemperature: unstickTemperature,
        prefill
      };
    };

    const sendBack = (rejected: RejectedAnswer) => {
      episode.rejectedAnswers = [...(episode.rejectedAnswers ?? []), rejected];
      hooks.onAnswerRejected?.(rejected);
    };
    const sentBackBefore = (kind: 'grounding' | 'form') => (episode.rejectedAnswers ?? []).some(r => (r.kind ?? 'grounding') === kind);

    /**
     * Accepts a final answer, or sends it back — once for stating values no
     * output showed, once for not being in the asked form; never after the loop
     * asked for the answer. True when accepted.
     */
    const judge = (answer: ParsedAnswer, raw: string, sent: string): boolean => {
      const afterSteps = episode.steps.length;
      const grounding = checkGrounding(answer.text, answerSources(episode));
      // An answer in an asked form before any code ran restates the question or guesses (DABench 324 named a
      // column the constraints listed; 465 a skew from no number): nothing computed it, whatever it repeats.
      const uncomputed = form !== null && afterSteps === 0 ? answerValues(answer.text) : [];
      const formed = form ? checkAnswerForm(answer.text, form) : null;
      const mayRefuse = !episode.answerRequest;
      if (mayRefuse && (!grounding.grounded || uncomputed.length > 0) && profile.groundingFeedback && !sentBackBefore('grounding')) {
        // Values no output showed are sent back to be computed and printed first: a step must be possible.
        answerOnly = undefined;
        const unsupported = grounding.grounded ? uncomputed : grounding.unsupported;
        sendBack({ afterSteps, raw, answer, kind: 'grounding', unsupported, feedback: profile.groundingFeedback(unsupported), promptSha256: sent });
        return false;
      }
      if (mayRefuse && formed && formed.problems.length > 0 && profile.formFeedback && !sentBackBefore('form')) {
        sendBack({ afterSteps, raw, answer, kind: 'form', unsupported: [], problems: formed.problems, feedback: profile.formFeedback(formed.problems, template!), promptSha256: sent });
        // An answer with none of the fields was written in prose: its next turn may only be the answer in form.
        // One with some fields lacks values it may still have to compute.
        const anyField = form!.fields.some(f => answer.text.includes(`@${f.name}[`));
        answerOnly = anyField ? undefined : answerTurnGrammar(form);
        return false;
      }
      episode.answer = answer;
      // Asked for although nothing was printed: no output supports the answer, whatever it states.
      episode.answerGrounding = episode.answerRequest?.nothingPrinted ? { grounded: false, unsupported: grounding.unsupported } : grounding;
      episode.answerPromptSha256 = sent;
      if (formed) {
        episode.answerForm = { text: formed.text, fixes: formed.fixes, problems: formed.problems };
      }
      hooks.onAnswer?.(episode);
      return true;
    };

    /**
     * The episode would end without an answer: one more turn asks for it from
     * the outputs already shown. When steps ran but none printed anything, a
     * profile with a `guessRequest` asks for the model's best answer, marked as
     * such; any other ends without one.
     */
    const askForAnswer = async (reason: AnswerRequestReason, status: Episode['status'], why: string): Promise<Episode> => {
      const printed = episode.steps.some(s => (s.outputs ?? []).some(o => o.output_type !== 'error'));
      // A guess only from a model that worked on the data: one whose every turn was malformed or refused gets none.
      const ran = episode.steps.some(s => s.status === 'ok' || s.status === 'error' || s.status === 'timeout');
      if (!printed && !(ran && profile.guessRequest)) {
        return finish(status, `${why}; no step printed anything to answer from`);
      }
      const request: AnswerRequest = printed
        ? { afterSteps: episode.steps.length, reason, message: profile.answerRequest(ANSWER_REQUEST_WHY[reason], template) }
        : { afterSteps: episode.steps.length, reason, message: profile.guessRequest!(ANSWER_REQUEST_WHY[reason], template), nothingPrinted: true };
      episode.answerRequest = request;
      answerOnly = answerTurnGrammar(form);
      unstickTemperature = undefined;
      unstickStart = undefined;
      // The answer may come from one-line outputs: every step's may be cut now, the latest one's too.
      const fit = await fitToContext(episode, limits.maxTokensPerTurn, countPrompt, { all: true });
      let maxTokens = limits.maxTokensPerTurn;
      if (!fit.fits) {
        const left = fit.contextSize - 1 - fit.tokens;
        if (left < MIN_ANSWER_TOKENS) {
          return finish(
            status,
            `${why}; even with every output cut to one line, asking for the answer takes ${fit.tokens} tokens of the ${fit.contextSize} the model's context holds`
          );
        }
        maxTokens = left;
      }
      const reply = await modelTurn(episode.steps.length, maxTokens);
      if (reply.stopped) {
        return finish('stopped', 'stopped by the user');
      }
      const answer = reply.parsed.answer;
      if (!reply.repeating && answer && answer.text.trim() !== '' && reply.parsed.steps.length === 0 && judge(answer, reply.raw, reply.sent)) {
        return finish('answered');
      }
      request.raw = reply.raw;
      return finish(status, printed ? `${why}; asked for the answer, it wrote none` : `${why}; no step printed anything, and asked for its best answer, it wrote none`);
    };

    try {
      while (episode.steps.length < limits.maxSteps) {
        const index = episode.steps.length;
        if (signal.aborted) {
          return finish('stopped', 'stopped by the user');
        }
        // Once an answer is possible, room is kept to ask for it after this step (its output cut to one line, the
        // request, a short answer): a step that filled the context would leave the episode no answer.
        const answerRoom =
          index === 0 ? {} : { keepTokens: MIN_ANSWER_TOKENS, keepChars: profile.answerRequest(ANSWER_REQUEST_WHY.context, template).length + STEP_LINE_CHARS };
        const fit = await fitToContext(episode, limits.maxTokensPerTurn, countPrompt, answerRoom);
        if (!fit.fits) {
          const size = `${fit.tokens} tokens, with ${fit.reserve} kept for the reply, in a context of ${fit.contextSize}`;
          if (episode.steps.length === 0) {
            return finish('failed', `the question and its context do not fit the model's context (${size}); shorten them or load the model with a larger context`);
          }
          return await askForAnswer('context', 'failed', `the conversation no longer fits the model's context with every older output cut (${size})`);
        }
        const startedAt = iso();
        const reply = await modelTurn(index);
        if (reply.stopped) {
          return finish('stopped', 'stopped by the user');
        }
        const { raw, parsed, sent, modelMs, raisedTemperature, prefill } = reply;

        if (!reply.repeating && parsed.answer && parsed.steps.length === 0) {
          if (judge(parsed.answer, raw, sent)) {
            return finish('answered');
          }
          continue;
        }
        answerOnly = undefined;

        const step = parsed.steps[0];
        const record = (fields: Partial<EpisodeStep> & Pick<EpisodeStep, 'status' | 'observation'>, kernelMs = 0) => {
          const done: EpisodeStep = {
            index: episode.steps.length,
            thought: step?.thought ?? '',
            code: step?.code ?? '',
            violations: parsed.violations,
            promptSha256: sent,
            raw,
            startedAt,
            endedAt: iso(),
            modelMs,
            kernelMs,
            ...(raisedTemperature !== undefined ? { temperature: raisedTemperature } : {}),
            ...(prefill ? { prefill } : {}),
            ...fields
          };
          episode.steps.push(done);
          hooks.onStepDone?.(done);
          return done;
        };

        const invalid = reply.repeating
          ? { cutOff: false, problems: ['it kept repeating the same text and was cut off'] }
          : invalidTurn(parsed, step, reply.stopReason);
        if (invalid) {
          record({
            status: 'invalid',
            observation: `[not run: ${invalid.problems.join('; ')}]`,
            problems: invalid.problems,
            ...(invalid.cutOff ? { cutOff: true } : {})
          });
          consecutiveErrors++;
          if (consecutiveErrors >= limits.maxConsecutiveErrors) {
            return await askForAnswer('error_limit', 'error_limit', `${consecutiveErrors} turns in a row failed`);
          }
          continue;
        }

        if (sameCode.repeats(step.code)) {
          // Its output is already in the conversation: running it again would tell the model nothing.
          const times = sameCode.note(step.code);
          if (lastFailure && profile.errorRecovery) {
            unstickTemperature = Math.max(options.temperature ?? 0, UNSTICK_TEMPERATURE);
            // A turn that began with the loop's start and still copied the code gets another start: given the
            // same start again, the starter wrote the same turn again (4 times in 4 on the DABench dev split).
            unstickStart = this._model.continuesTurns ? stuckTurnStart(lastFailure, lastFailingLine, prefill !== undefined, lastColumnFix) : undefined;
          }
          if (times >= SAME_CODE_LIMIT && lastFailure && profile.errorRecovery && !lastChanceGiven) {
            // Failing code again: nothing it wrote has worked yet, so one more step, told plainly, before the end.
            lastChanceGiven = true;
            record({ status: 'skipped', lastChance: true, observation: lastChanceObservation(times, lastFailure, lastFailingLine) });
            continue;
          }
          const observation = !lastFailure
            ? SAME_CODE_OBSERVATION
            : profile.errorRecovery
              ? `${SAME_FAILING_CODE_OBSERVATION}\n[${DIFFERENT_APPROACH}]`
              : SAME_FAILING_CODE_OBSERVATION;
          record({ status: 'skipped', observation });
          if (times >= SAME_CODE_LIMIT) {
            return await askForAnswer('repeating', 'failed', `the model wrote the same code ${times} times in a row instead of answering`);
          }
          continue;
        }

        // What runs, and what the user is asked to approve: installs go to the kernel's own interpreter, and
        // (profiles with errorRecovery) removed calls with a plain replacement are replaced (apiChanges.ts) and
        // a usual alias the step never imports is imported (standardImports.ts).
        const installs = kernelInstalls(step.code);
        const modern = profile.errorRecovery ? rewriteRemovedCalls(installs.code) : { code: installs.code, rewrites: [] };
        const imported = profile.errorRecovery ? addStandardImports(modern.code) : { code: modern.code, rewrites: [] };
        const rewrites = [...installs.rewrites, ...modern.rewrites, ...imported.rewrites];
        const proposed = rewrites.length > 0 ? { ...step, code: imported.code } : step;
        unstickTemperature = undefined;
        unstickStart = undefined;
        const risks = options.policy && !signal.aborted ? await options.policy.check(proposed.code) : [];
        const withRisks = risks.length > 0 ? { risks } : {};
        const approval: Approval = hooks.approve
          ? await hooks.approve(index, proposed, risks)
          : risks.length > 0
            ? { action: 'refuse', observation: refusedObservation(risks, 'Nobody is here to approve such a step.') }
            : { action: 'run' };
        if (approval.action === 'stop' || signal.aborted) {
          return finish('stopped', 'stopped by the user');
        }
        if (approval.action === 'skip') {
          record({ status: 'skipped', observation: profile.skippedObservation, ...withRisks });
          continue;
        }
        if (approval.action === 'refuse') {
          record({ status: 'skipped', refused: true, observation: approval.observation, ...withRisks });
          // A model that keeps writing what is refused ends like one whose steps keep failing.
          consecutiveErrors++;
          if (consecutiveErrors >= limits.maxConsecutiveErrors) {
            return await askForAnswer('error_limit', 'error_limit', `${consecutiveErrors} turns in a row failed or were refused`);
          }
          continue;
        }
        const code = approval.code ?? proposed.code;
        // What the model wrote, unless the user changed it: a model that writes it again repeats itself.
        sameCode.note(code === proposed.code ? step.code : code);
        const result: ExecutionResult = await this._runner.run(code, {
          episodeId: options.episodeId,
          step: index,
          signal,
          timeoutMs: limits.cellTimeoutMs,
          metadata: { thought: step.thought }
        });
        const error = executionError(result);
        const line = error ? failingLine(result.outputs, code) : null;
        // The same error as the step before: the model's fix did not work, and it tends to write it again.
        const repeated = error && sameFailure(lastFailure, error) ? { line } : null;
        lastFailure = error;
        lastFailingLine = line;
        const observation = observationFor(result, profile.observationStyle, observationLimit, limits.cellTimeoutMs);
        const frames = profile.columnHints && !result.kernelLost && !signal.aborted ? await kernelColumns(this._runner, error) : null;
        const hint = frames ? formatColumnHint(frames) : '';
        const misspelt = frames ? columnMatch(frames, error) : null;
        lastColumnFix = misspelt ? columnFix(misspelt) : undefined;
        // A call the installed libraries removed (apiChanges.ts): the traceback alone does not say what replaced it.
        const changed = profile.errorRecovery ? apiChangeHint(error) : '';
        const notes = [observation, hint, misspelt ? columnMatchNote(misspelt) : '', changed, repeated && error && profile.errorRecovery ? repeatedErrorNote(error, line) : ''].filter(Boolean);
        record(
          {
            code,
            modelCode: code !== step.code ? step.code : undefined,
            ...(rewrites.length > 0 ? { rewrites } : {}),
            ...withRisks,
            ...(repeated ? { repeatedError: repeated } : {}),
            status: result.status,
            observation: notes.join('\n'),
            error: error ?? undefined,
            outputs: result.outputs
          },
          result.durationMs
        );
        if (result.status === 'aborted' || signal.aborted) {
          return finish('stopped', 'stopped by the user');
        }
        if (result.kernelLost) {
          // Later steps would run against a fresh kernel without the episode's variables.
          return finish('failed', `the kernel died or restarted while step ${index + 1} ran; its variables are gone`);
        }
        if (error) {
          consecutiveErrors++;
          if (consecutiveErrors >= limits.maxConsecutiveErrors) {
            return await askForAnswer('error_limit', 'error_limit', `${consecutiveErrors} steps in a row raised errors`);
          }
          if (profile.errorRecovery && this._model.continuesTurns) {
            unstickStart = stuckTurnStart(error, line, false, lastColumnFix);
          }
        } else {
          consecutiveErrors = 0;
        }
      }
      return await askForAnswer('step_limit', 'step_limit', `no answer after ${limits.maxSteps} steps`);
    } catch (err) {
      if (signal.aborted) {
        return finish('stopped', 'stopped by the user');
      }
      return finish('failed', err instanceof Error ? err.message : String(err));
    } finally {
      await this._model.endEpisode?.(options.episodeId);
    }
  }
}

/** Protocol problems that leave nothing to run. */
const FATAL: ReadonlySet<Violation['kind']> = new Set(['empty_code', 'unknown_action', 'no_structure']);

/**
 * Why a turn must not run, or null when its first step may. A turn that ended
 * inside a step is cut off: its code may stop mid-statement (an `open(…, "w")`
 * without the write that followed), so it never runs.
 */
export function invalidTurn(
  parsed: ParseResult,
  step: ParsedStep | undefined,
  stopReason: string
): { cutOff: boolean; problems: string[] } | null {
  const truncated = parsed.violations.filter(v => v.kind === 'truncated');
  if (truncated.length > 0 && !(parsed.answer && !step)) {
    const limit = stopReason === 'length' ? ['the turn hit the token limit'] : [];
    return { cutOff: true, problems: [...limit, ...truncated.map(v => v.message)] };
  }
  const fatal = parsed.violations.filter(v => FATAL.has(v.kind)).map(v => v.message);
  if (fatal.length > 0) {
    return { cutOff: false, problems: fatal };
  }
  if (!step) {
    return { cutOff: false, problems: [stopReason === 'length' ? 'the turn hit the token limit' : 'no step'] };
  }
  if (step.action !== PYTHON_EXECUTOR) {
    return { cutOff: false, problems: [`unknown action "${step.action}"`] };
  }
  return null;
}
