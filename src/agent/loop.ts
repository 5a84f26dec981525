/**
 * The Datarus agent loop. Each turn the model writes one step; the step's code
 * runs in the live kernel; the observation goes back to the model; until it
 * writes `<stop_analysis>`, or a limit is reached, or the user stops it.
 *
 * The conversation follows the model's own harness (design.md): each executed
 * step, with its observation, becomes an assistant message followed by the user
 * message "Continue with the analysis." (or an error hint); a turn that broke
 * the protocol gets a short correction; only the latest failed attempt is kept.
 */
import {
  AGENTIC_STOP_STRINGS,
  AGENTIC_SYSTEM_PROMPT,
  CONTINUE_MESSAGE,
  correctionMessage,
  DatarusStreamParser,
  errorHintMessage,
  formatObservation,
  ParsedStep,
  PYTHON_EXECUTOR,
  Violation
} from '../protocol';
import type { Episode, EpisodeStep } from '../episode/types';
import { EPISODE_SCHEMA_VERSION } from '../episode/types';
import type { ChatMessage } from './messages';
import { DEFAULT_OBSERVATION_LIMIT, executionError, renderObservation } from './observation';
import { RepeatedCode, RepetitionWatch, SAME_CODE_LIMIT, SAME_CODE_OBSERVATION } from './stuck';
import type { AgentModel, CodeRunner, ExecutionResult } from './types';

export interface AgentLimits {
  maxSteps: number;
  maxConsecutiveErrors: number;
  observationLimit: number;
  cellTimeoutMs: number;
  maxTokensPerTurn: number;
}

export const DEFAULT_LIMITS: AgentLimits = {
  maxSteps: 30,
  maxConsecutiveErrors: 5,
  observationLimit: DEFAULT_OBSERVATION_LIMIT,
  cellTimeoutMs: 120000,
  maxTokensPerTurn: 2048
};

/** What the user decided about a step before it runs. */
export type Approval = { action: 'run'; code?: string } | { action: 'skip' } | { action: 'stop' };

export interface AgentHooks {
  /** Text of the turn as it streams in. */
  onText?(step: number, text: string): void;
  /** The thought of a step, as soon as its tag closes. */
  onThought?(step: number, thought: string): void;
  /** Asked before each step runs; resolves to run (possibly edited), skip or stop. */
  approve?(step: number, parsed: ParsedStep): Promise<Approval>;
  onStepDone?(step: EpisodeStep): void;
  onAnswer?(episode: Episode): void;
  onEnd?(episode: Episode): void;
}

export interface AgentRunOptions {
  episodeId: string;
  question: string;
  /** Summary of the notebook and the kernel's data, put before the question. */
  context?: string;
  notebook?: string;
  limits?: Partial<AgentLimits>;
  temperature?: number;
  /** A grammar for every turn, or per turn (tests force exact turns this way). */
  grammar?: string | ((turn: number) => string | undefined);
  signal?: AbortSignal;
  hooks?: AgentHooks;
  /** Clock, for deterministic tests. */
  now?: () => number;
}

/** Protocol problems that leave nothing to run. */
const FATAL: ReadonlySet<Violation['kind']> = new Set(['empty_code', 'unknown_action', 'no_structure']);

export function buildFirstMessages(question: string, context?: string): ChatMessage[] {
  const user = context ? `${context}\n\nQuestion: ${question}` : question;
  return [
    { role: 'system', content: AGENTIC_SYSTEM_PROMPT },
    { role: 'user', content: user }
  ];
}

export class AgentLoop {
  constructor(
    private readonly _model: AgentModel,
    private readonly _runner: CodeRunner
  ) {}

  async run(options: AgentRunOptions): Promise<Episode> {
    const now = options.now ?? Date.now;
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
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
    if (options.question.trim() === '') {
      return finish('failed', 'the question is empty');
    }

    const messages = buildFirstMessages(options.question, options.context);
    let consecutiveErrors = 0;
    /** Index in `messages` of the latest failed attempt, to drop it when the next one fails too. */
    let lastFailure: number | null = null;
    const sameCode = new RepeatedCode();

    try {
      for (let turn = 0; turn < limits.maxSteps; turn++) {
        if (signal.aborted) {
          return finish('stopped', 'stopped by the user');
        }
        const startedAt = iso();
        const modelStart = now();
        const parser = new DatarusStreamParser();
        const grammar = typeof options.grammar === 'function' ? options.grammar(turn) : options.grammar;
        // A turn that keeps repeating itself is cut off through its own signal, apart from the user's Stop.
        const repetition = new RepetitionWatch();
        const turnAbort = new AbortController();
        const onStop = () => turnAbort.abort();
        signal.addEventListener('abort', onStop);
        const reply = await this._model.complete(
          {
            episodeId: options.episodeId,
            messages: messages.slice(),
            stop: AGENTIC_STOP_STRINGS,
            maxTokens: limits.maxTokensPerTurn,
            temperature: options.temperature,
            grammar,
            signal: turnAbort.signal
          },
          text => {
            if (repetition.feed(text)) {
              turnAbort.abort();
              return;
            }
            hooks.onText?.(turn, text);
            for (const event of parser.feed(text)) {
              if (event.type === 'thought') {
                hooks.onThought?.(turn, event.text);
              }
            }
          }
        );
        signal.removeEventListener('abort', onStop);
        const modelMs = now() - modelStart;
        if (signal.aborted || (reply.stopReason === 'abort' && !repetition.repeating)) {
          return finish('stopped', 'stopped by the user');
        }
        const raw = repetition.repeating ? repetition.kept() : reply.text + (reply.stopString ?? '');
        parser.feed(reply.stopString ?? '');
        parser.end();
        const parsed = parser.result();

        if (parsed.answer && parsed.steps.length === 0) {
          episode.answer = parsed.answer;
          hooks.onAnswer?.(episode);
          return finish('answered');
        }

        const step = parsed.steps[0];
        const problems = parsed.violations.filter(v => FATAL.has(v.kind) || (v.kind === 'truncated' && !step?.code));
        const record = (fields: Partial<EpisodeStep> & Pick<EpisodeStep, 'status' | 'observation'>, kernelMs = 0) => {
          const done: EpisodeStep = {
            index: episode.steps.length,
            thought: step?.thought ?? '',
            code: step?.code ?? '',
            violations: parsed.violations,
            raw,
            startedAt,
            endedAt: iso(),
            modelMs,
            kernelMs,
            ...fields
          };
          episode.steps.push(done);
          hooks.onStepDone?.(done);
          return done;
        };

        if (repetition.repeating || !step || problems.length > 0 || step.action !== PYTHON_EXECUTOR) {
          const why = repetition.repeating
            ? ['it kept repeating the same text and was cut off']
            : problems.length
              ? problems.map(p => p.message)
              : [reply.stopReason === 'length' ? 'the turn hit the token limit' : 'no step'];
          record({ status: 'invalid', observation: `[not run: ${why.join('; ')}]` });
          consecutiveErrors++;
          if (consecutiveErrors >= limits.maxConsecutiveErrors) {
            return finish('error_limit', `${consecutiveErrors} turns in a row failed`);
          }
          lastFailure = dropFailure(messages, lastFailure);
          messages.push({ role: 'assistant', content: raw }, { role: 'user', content: correctionMessage(why) });
          continue;
        }

        if (sameCode.repeats(step.code)) {
          // Its output is already in the conversation: running it again would tell the model nothing.
          const times = sameCode.note(step.code);
          record({ status: 'skipped', observation: SAME_CODE_OBSERVATION });
          if (times >= SAME_CODE_LIMIT) {
            return finish('failed', `the model wrote the same code ${times} times in a row instead of answering`);
          }
          messages.push({ role: 'assistant', content: `${raw}\n${formatObservation(SAME_CODE_OBSERVATION)}` }, { role: 'user', content: CONTINUE_MESSAGE });
          continue;
        }

        const approval = hooks.approve ? await hooks.approve(turn, step) : ({ action: 'run' } as Approval);
        if (approval.action === 'stop' || signal.aborted) {
          return finish('stopped', 'stopped by the user');
        }
        if (approval.action === 'skip') {
          record({ status: 'skipped', observation: '[the user skipped this step]' });
          messages.push({ role: 'assistant', content: `${raw}\n${formatObservation('[the user skipped this step]')}` }, { role: 'user', content: CONTINUE_MESSAGE });
          continue;
        }
        const code = approval.code ?? step.code;
        sameCode.note(code);
        const result: ExecutionResult = await this._runner.run(code, {
          episodeId: options.episodeId,
          step: turn,
          signal,
          timeoutMs: limits.cellTimeoutMs,
          metadata: { thought: step.thought }
        });
        const observation = renderObservation(result, limits.observationLimit, limits.cellTimeoutMs);
        const error = executionError(result);
        record(
          {
            code,
            modelCode: code !== step.code ? step.code : undefined,
            status: result.status,
            observation,
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
          return finish('failed', `the kernel died or restarted while step ${turn + 1} ran; its variables are gone`);
        }
        // What the model sees is what ran: an edited cell replaces the model's code.
        const assistant = code === step.code ? raw : raw.replace(step.code, code);
        if (error) {
          consecutiveErrors++;
          if (consecutiveErrors >= limits.maxConsecutiveErrors) {
            return finish('error_limit', `${consecutiveErrors} steps in a row raised errors`);
          }
          lastFailure = dropFailure(messages, lastFailure);
          messages.push({ role: 'assistant', content: `${assistant}\n${formatObservation(observation)}` }, { role: 'user', content: errorHintMessage(error.ename) });
        } else {
          consecutiveErrors = 0;
          lastFailure = null;
          messages.push({ role: 'assistant', content: `${assistant}\n${formatObservation(observation)}` }, { role: 'user', content: CONTINUE_MESSAGE });
        }
      }
      return finish('step_limit', `no answer after ${limits.maxSteps} steps`);
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

/**
 * Removes the previous failed attempt (its assistant and user messages) when
 * another failure follows it, and returns where the new one will start.
 */
function dropFailure(messages: ChatMessage[], lastFailure: number | null): number {
  if (lastFailure !== null && lastFailure === messages.length - 2) {
    messages.splice(lastFailure, 2);
  }
  return messages.length;
}
