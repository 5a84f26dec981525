/**
 * Agent sessions: the one agent loop (src/agent/loop.ts), run by the host for
 * a client that runs the code in its own kernel (the `%%datarus` magic). The
 * client reads the session's events by long polling; `ask` events (run this
 * code, evaluate this expression silently, approve this step) wait for its
 * answer. The context is gathered with `gatherContext` through the client's
 * kernel, as every front door gathers it, and the episode goes to the host's
 * episode log like Analyze's.
 */
import { randomUUID } from 'node:crypto';

import { interactiveApproval, refuseFlagged, UserChoice } from '../../agent/approvalGate';
import { kernelPolicy } from '../../agent/codePolicy';
import { gatherContext } from '../../agent/gatherContext';
import { AgentHooks, AgentLimits, AgentLoop } from '../../agent/loop';
import { OpenAIModel } from '../../agent/openaiModel';
import { reflectionMessages } from '../../agent/reflection';
import { RemoteRunner, RunnerChannel } from '../../agent/remoteRunner';
import type { AgentModel } from '../../agent/types';
import type { AgentReflectRequest, AgentReflectResponse, AgentSessionAnswer, AgentSessionAsk, AgentSessionCreated, AgentSessionEvent, AgentSessionEvents, AgentSessionRequest } from '../../contract';
import { deliveredAnswer } from '../../episode/answer';
import { parseReflection } from '../../protocol';
import { EPISODE_SCHEMA_VERSION, Episode } from '../../episode/types';
import type { Engine } from '../engine';
import { EngineModel } from './engineModel';
import type { EpisodeStore } from '../episodes/episodeStore';
import { DomainError } from '../errors';

/** Distributes `Omit` over the union, so each event keeps its own fields. */
type EventBody = AgentSessionEvent extends infer E ? (E extends AgentSessionEvent ? Omit<E, 'seq'> : never) : never;

export interface SessionTimings {
  /** How long an ended session's events stay readable. */
  keepEndedMs: number;
  /** A client that has not polled for this long, while nothing was asked of it, is gone. */
  clientGoneMs: number;
  /** Beyond a step's own time limit, how long a run may take to be answered. */
  runGraceMs: number;
  /** How long a human may take to approve a step. */
  approveMs: number;
  inspectMs: number;
}

export const DEFAULT_SESSION_TIMINGS: SessionTimings = {
  keepEndedMs: 10 * 60_000,
  clientGoneMs: 120_000,
  runGraceMs: 60_000,
  approveMs: 60 * 60_000,
  inspectMs: 60_000
};

/** One session: its events, what it waits for, and the abort that stops it. */
export class AgentSession implements RunnerChannel {
  constructor(
    readonly id: string,
    private readonly _timings: SessionTimings
  ) {
    this._lastPoll = Date.now();
    this._watch = setInterval(() => this._checkClient(), Math.min(5000, this._timings.clientGoneMs));
    this._watch.unref?.();
  }

  readonly abort = new AbortController();
  done = false;

  emit(event: EventBody): void {
    const last = this._events[this._events.length - 1];
    // Streamed text not yet read is merged into one event: a poll then returns a few events, not hundreds.
    if (event.type === 'text' && last?.type === 'text' && last.step === event.step && last.seq > this._read) {
      last.text += event.text;
    } else {
      this._events.push({ ...event, seq: this._events.length + 1 } as AgentSessionEvent);
    }
    this._wake();
  }

  end(): void {
    this.done = true;
    clearInterval(this._watch);
    for (const [, pending] of this._pending) {
      pending.reject(new Error('the session ended'));
    }
    this._pending.clear();
    this._wake();
  }

  ask(request: AgentSessionAsk, signal?: AbortSignal): Promise<AgentSessionAnswer> {
    const id = ++this._asks;
    const limit =
      request.kind === 'run' ? request.timeoutMs + this._timings.runGraceMs : request.kind === 'approve' ? this._timings.approveMs : this._timings.inspectMs;
    return new Promise<AgentSessionAnswer>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this._pending.delete(id);
      };
      const onAbort = () => {
        settle();
        reject(new Error('stopped'));
      };
      const timer = setTimeout(() => {
        settle();
        reject(new Error(`no answer within ${Math.round(limit / 1000)} s`));
      }, limit);
      signal?.addEventListener('abort', onAbort);
      this._pending.set(id, {
        kind: request.kind,
        resolve: answer => {
          settle();
          resolve(answer);
        },
        reject: err => {
          settle();
          reject(err);
        }
      });
      this.emit({ type: 'ask', ask: id, ...request });
    });
  }

  /** The client's answer to an ask; false when nothing waits for it (answered already, or timed out). */
  answer(ask: number, answer: AgentSessionAnswer): boolean {
    const pending = this._pending.get(ask);
    if (!pending) {
      return false;
    }
    if (pending.kind !== answer.kind) {
      throw new DomainError('invalid_request', `ask ${ask} is a "${pending.kind}", not a "${answer.kind}"`);
    }
    pending.resolve(answer);
    return true;
  }

  /** The events after `after`, waiting up to `waitMs` for the first one. */
  async events(after: number, waitMs: number): Promise<AgentSessionEvents> {
    this._lastPoll = Date.now();
    if (this._events.length <= after && !this.done && waitMs > 0) {
      await new Promise<void>(resolve => {
        let timer: ReturnType<typeof setTimeout> | undefined = undefined;
        const done = () => {
          clearTimeout(timer);
          this._waiters.delete(done);
          resolve();
        };
        timer = setTimeout(done, waitMs);
        this._waiters.add(done);
      });
      this._lastPoll = Date.now();
    }
    const events = this._events.slice(Math.max(0, after));
    this._read = Math.max(this._read, this._events.length);
    return { events, done: this.done && after + events.length >= this._events.length };
  }

  private _wake(): void {
    const waiters = [...this._waiters];
    this._waiters.clear();
    waiters.forEach(w => w());
  }

  /** A client that stopped polling while nothing was asked of it (its kernel died): the session stops. */
  private _checkClient(): void {
    if (!this.done && this._pending.size === 0 && Date.now() - this._lastPoll > this._timings.clientGoneMs) {
      this.abort.abort();
    }
  }

  private readonly _events: AgentSessionEvent[] = [];
  /** Events up to this seq have been returned to the client. */
  private _read = 0;
  private _asks = 0;
  private _lastPoll: number;
  private readonly _watch: ReturnType<typeof setInterval>;
  private readonly _waiters = new Set<() => void>();
  private readonly _pending = new Map<number, { kind: AgentSessionAsk['kind']; resolve: (a: AgentSessionAnswer) => void; reject: (e: Error) => void }>();
}

/** The caution shown under an answer that states values no output showed. */
export function cautionFor(episode: Episode): string | null {
  const grounding = episode.answerGrounding;
  if (!episode.answer || !grounding || grounding.grounded) {
    return null;
  }
  const values = grounding.unsupported.join(', ');
  return `Caution: no output of the code showed ${values || 'what this answer states'}. Check this answer against the data before relying on it.`;
}

export class AgentSessions {
  constructor(
    private readonly _engine: Engine,
    private readonly _store: EpisodeStore | null,
    private readonly _timings: SessionTimings = DEFAULT_SESSION_TIMINGS
  ) {}

  get(id: string): AgentSession {
    const session = this._sessions.get(id);
    if (!session) {
      throw new DomainError('not_found', `no agent session ${id} (it ended more than ${Math.round(this._timings.keepEndedMs / 60000)} minutes ago, or the host restarted)`);
    }
    return session;
  }

  /** Starts a session; its episode runs in the background and is read through its events. */
  async start(request: AgentSessionRequest): Promise<AgentSessionCreated> {
    const { model, profile } = await this._model(request);
    const session = new AgentSession(randomUUID(), this._timings);
    this._sessions.set(session.id, session);
    void this._run(session, model, profile, request)
      .catch(err => session.emit({ type: 'end', episode: failedEpisode(session.id, request, model.name, err), answer: null, logged: false, caution: null }))
      .finally(() => {
        session.end();
        setTimeout(() => this._sessions.delete(session.id), this._timings.keepEndedMs).unref?.();
      });
    return { sessionId: session.id, model: model.name, profile: profile ?? 'generic' };
  }

  /** A reflection on the cells, in the loaded model's profile, as Reflect in JupyterLab asks for it. */
  async reflect(request: AgentReflectRequest): Promise<AgentReflectResponse> {
    const { model, profile } = await this._model({ question: 'reflect' });
    const episodeId = `reflect-${randomUUID()}`;
    try {
      const turn = await model.complete(
        { episodeId, messages: reflectionMessages(request.cells, profile), stop: [], maxTokens: request.maxTokens, temperature: request.temperature, grammar: request.grammar },
        () => undefined
      );
      const parsed = parseReflection(turn.text);
      return { model: model.name, thinking: parsed.thinking, answer: parsed.answer };
    } finally {
      await model.endEpisode?.(episodeId);
    }
  }

  /** Stops every session (the host is closing). */
  closeAll(): void {
    for (const session of this._sessions.values()) {
      session.abort.abort();
    }
  }

  private async _model(request: AgentSessionRequest): Promise<{ model: AgentModel; profile?: string }> {
    if (request.baseUrl) {
      if (!/^https?:\/\//.test(request.baseUrl)) {
        throw new DomainError('invalid_request', `baseUrl must be an http(s) URL: ${request.baseUrl}`);
      }
      const name = request.model ?? (await servedModel(request.baseUrl, request.apiKey));
      return { model: new OpenAIModel({ baseUrl: request.baseUrl, apiKey: request.apiKey, model: name }) };
    }
    let loaded = this._engine.loaded;
    if (!loaded && request.model) {
      loaded = await this._engine.load(request.model, undefined, { anywhere: true });
    }
    if (!loaded) {
      throw new DomainError(
        'no_model',
        'the host has no model loaded: pass --model NAME|FILE.gguf, set DATARUS_MODEL, or `datarus pull qwen2.5-coder-1.5b` (the starter) into the models folder'
      );
    }
    if (request.model && request.model !== loaded.name && request.model !== loaded.path) {
      throw new DomainError('model_not_found', `the host serves ${loaded.name}, not ${request.model}: load it from the Models dialog (or POST /api/models/load), or use --base-url`);
    }
    return { model: new EngineModel(this._engine, loaded.name), profile: loaded.promptProfile };
  }

  private async _run(session: AgentSession, model: AgentModel, profile: string | undefined, request: AgentSessionRequest): Promise<void> {
    const runner = new RemoteRunner(session);
    const context = await gatherContext({ question: request.question, inspect: e => runner.inspect(e), dataFiles: request.dataFiles });
    session.emit({ type: 'context', text: context });
    const grammars = request.grammars ?? [];
    const limits: Partial<AgentLimits> = {
      ...(request.maxSteps ? { maxSteps: request.maxSteps } : {}),
      ...(request.cellTimeoutSeconds ? { cellTimeoutMs: request.cellTimeoutSeconds * 1000 } : {})
    };
    const episode = await new AgentLoop(model, runner).run({
      episodeId: session.id,
      question: request.question,
      context,
      profile,
      limits,
      temperature: request.temperature,
      grammar: grammars.length > 0 ? turn => grammars[Math.min(turn, grammars.length - 1)] : undefined,
      signal: session.abort.signal,
      // Classified in the client's kernel (its `ast`, working folder and names) before each step, as in Analyze.
      policy: kernelPolicy(expression => runner.inspect(expression)),
      hooks: {
        onText: (step, text) => session.emit({ type: 'text', step, text }),
        onThought: (step, text) => session.emit({ type: 'thought', step, text }),
        onStepDone: step => session.emit({ type: 'step', step }),
        onAnswerRejected: rejected => session.emit({ type: 'rejected', rejected }),
        approve: sessionApproval(session, request)
      }
    });
    let logged = false;
    if (this._store && request.log !== false && (episode.steps.length > 0 || episode.answer)) {
      // A log that cannot be written does not take the answer away: the end event says it was not logged.
      logged = await this._store.appendEpisode(episode).then(
        () => true,
        () => false
      );
    }
    session.emit({ type: 'end', episode, answer: deliveredAnswer(episode), logged, caution: cautionFor(episode) });
  }

  private readonly _sessions = new Map<string, AgentSession>();
}

/**
 * Who approves a session's steps: its client's user, asked through the session, under "ask" and for a
 * flagged step under "auto" (Analyze's rules: "allow the rest" never covers a flagged step); a client
 * that cannot ask (no stdin) gets a flagged step refused, the model told why.
 */
function sessionApproval(session: AgentSession, request: AgentSessionRequest): NonNullable<AgentHooks['approve']> {
  const mode = request.approval ?? 'auto';
  if (mode === 'auto' && !request.canAsk) {
    return refuseFlagged('Such a step needs approval (--approval auto runs only the steps the code policy does not flag), and this frontend cannot ask for it: it allows no input().');
  }
  return interactiveApproval(mode, async (step, parsed, risk): Promise<UserChoice> => {
    const answer = await session.ask({ kind: 'approve', step, thought: parsed.thought, code: parsed.code, ...(risk ? { risk } : {}) }, session.abort.signal);
    return answer.kind === 'approve' ? { action: answer.action } : { action: 'stop' };
  });
}

/** The first model an OpenAI-compatible server lists. */
async function servedModel(baseUrl: string, apiKey: string | undefined): Promise<string> {
  const url = `${baseUrl.replace(/\/+$/, '')}/models`;
  const response = await fetch(url, { headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {} }).catch((err: Error) => {
    throw new DomainError('invalid_request', `${url} could not be reached: ${err.message}`);
  });
  const id = response.ok ? ((await response.json()) as { data?: { id?: string }[] })?.data?.[0]?.id : undefined;
  if (!id) {
    throw new DomainError('invalid_request', `${url} names no model (answered ${response.status}); pass --model NAME`);
  }
  return id;
}

function failedEpisode(id: string, request: AgentSessionRequest, model: string, err: unknown): Episode {
  const now = new Date().toISOString();
  return {
    schemaVersion: EPISODE_SCHEMA_VERSION,
    id,
    question: request.question,
    model,
    startedAt: now,
    endedAt: now,
    status: 'failed',
    reason: err instanceof Error ? err.message : String(err),
    steps: [],
    answer: null
  };
}

