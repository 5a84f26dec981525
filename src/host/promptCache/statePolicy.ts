/**
 * When a saved prompt state is worth saving or loading, decided from what this
 * host has measured on itself.
 *
 * On the CPU a state loads about a thousand times faster than its tokens
 * evaluate; on a GPU a load can cost as much as the evaluation, and a save or
 * load of a sequence whose cells are scattered over the KV cache has been
 * measured at seconds for a few dozen tokens. So the policy keeps running
 * estimates of milliseconds per token for evaluating, saving and loading (each
 * from this host's own operations), loads a state only when loading is
 * expected to cost less than evaluating its tokens, saves one only when the
 * expected reuse saves more than the save costs, and stops saving (or loading)
 * for good after one operation costs far more than expected, rather than
 * paying it again. Before a kind of operation has been measured it starts from
 * a prior by device: on the CPU states are cheap; on a GPU one small probe is
 * allowed, for a prefix whose evaluation is worth saving.
 *
 * Every operation on a context waits for the others: loads and saves hold the
 * context's lock, and evaluations of several sequences share its batches. So a
 * measurement taken while other work ran is divided by the work it shared the
 * context with (and a save or load then is never judged), and a decision counts
 * the same work on both sides: a load waits for the loads queued before it, but
 * so would evaluating instead, which also shares its batches with the other
 * evaluations under way.
 *
 * Pure logic: the caller times the operations and reports them.
 */
import type { PromptCacheDevice, PromptCacheMode, PromptCachePolicyStatus, StateOperation } from '../../contract';

export type StateKind = 'save' | 'load';

export interface StatePolicyOptions {
  /** `auto`: decide by the estimates; `on`: always use states (still measured and reported). */
  mode: Exclude<PromptCacheMode, 'off'>;
  device: PromptCacheDevice;
}

/** Weight left to older measurements at each new one: the estimates follow a host whose load changes. */
const DECAY = 0.8;
/** An operation costing more than this many times its expected cost (and more than SLOW_FLOOR_MS) stops that kind. */
const SLOW_FACTOR = 4;
const SLOW_FLOOR_MS = 50;
/** Before measuring, milliseconds per operation assumed besides its per-token cost: a GPU copy has a fixed price. */
const OVERHEAD_MS: Record<PromptCacheDevice, number> = { cpu: 1, gpu: 20 };
/** Before measuring, a state's per-token cost as a share of evaluating the same tokens. */
const PRIOR_SHARE: Record<PromptCacheDevice, number> = { cpu: 0.01, gpu: 0.5 };
/** A GPU probe (the first save or load) only for a prefix this long at most… */
const PROBE_MAX_TOKENS = 4096;
/** …and whose evaluation takes at least this long: a few dozen tokens are never worth the risk. */
const MIN_SAVING_MS: Record<PromptCacheDevice, number> = { cpu: 0, gpu: 50 };
const RECENT_OPERATIONS = 8;
/** Shorter evaluations are not timed: a batch's fixed cost would swamp the per-token figure. */
const MIN_TIMED_TOKENS = 128;

/** Milliseconds per token, token-weighted, older measurements fading. */
class RunningRate {
  add(tokens: number, ms: number): void {
    this._tokens = this._tokens * DECAY + tokens;
    this._ms = this._ms * DECAY + ms;
  }

  get msPerToken(): number | null {
    return this._tokens > 0 ? this._ms / this._tokens : null;
  }

  private _tokens = 0;
  private _ms = 0;
}

export class StatePolicy {
  constructor(private readonly _options: StatePolicyOptions) {}

  /**
   * An evaluation of `tokens` prompt tokens took `ms`, while `shared` other
   * pieces of work used the context (evaluations under way, loads queued): its
   * batches carried theirs too, so its own cost is its share. It is `contended`
   * when anything else ran (another request's decode steps too).
   */
  recordEvaluation(tokens: number, ms: number, { shared = 0, contended = shared > 0 }: { shared?: number; contended?: boolean } = {}): void {
    if (tokens < MIN_TIMED_TOKENS) {
      return;
    }
    this._evaluations.timed++;
    if (contended) {
      this._evaluations.contended++;
    }
    this._prefill.add(tokens, ms / (shared + 1));
  }

  /**
   * Whether to load a saved state of `tokens` tokens rather than evaluate what
   * the sequence lacks of them (it holds `held` already), with `evaluating`
   * other evaluations under way. Loads already queued do not count: a load
   * waits for them (a context runs one operation at a time), but so would the
   * evaluation, which also shares its batches with the other evaluations.
   */
  shouldLoad(tokens: number, { held = 0, evaluating = 0 }: { held?: number; evaluating?: number } = {}): boolean {
    const yes = this._shouldLoad(tokens, held, evaluating);
    if (!yes) {
      this._skipped.load++;
    }
    return yes;
  }

  /** Whether to save the state of `tokens` tokens that `reuses` later requests are expected to load. */
  shouldSave(tokens: number, reuses: number): boolean {
    const yes = this._shouldSave(tokens, reuses);
    if (!yes) {
      this._skipped.save++;
    }
    return yes;
  }

  /** Whether saves may happen at all (not stopped after a far too slow one). */
  get savesAllowed(): boolean {
    return this._options.mode === 'on' || this._disabled.save === null;
  }

  /**
   * A save or load of `tokens` tokens took `ms`, after `queued` loads that
   * were under way when it began: updates the estimate, and stops that kind if
   * it was far too slow. Only an operation that had the context to itself
   * (not `contended`: no queued loads, no other request running, whose
   * batches it waits for) is judged: waiting is not the state's cost.
   */
  record(kind: StateKind, tokens: number, ms: number, { queued = 0, contended = queued > 0 }: { queued?: number; contended?: boolean } = {}): void {
    const evaluation = this._evaluationMs(tokens);
    const expected = Math.max(this.expectedMs(kind, tokens) ?? 0, evaluation ?? 0);
    this._recent.unshift({ kind, tokens, ms: round(ms), expectedMs: round(expected), contended });
    this._recent.length = Math.min(this._recent.length, RECENT_OPERATIONS);
    const judged = !contended && evaluation !== null;
    if (judged && ms > SLOW_FLOOR_MS && ms > SLOW_FACTOR * expected && this._disabled[kind] === null) {
      this._disabled[kind] = `a ${kind} of ${tokens} tokens took ${Math.round(ms)} ms, expected about ${Math.round(expected)} ms`;
    }
    this._rates[kind].add(tokens, ms / (queued + 1));
  }

  /** Expected milliseconds of a save or load of `tokens`, from measurements or the device's prior; null before any evaluation was measured. */
  expectedMs(kind: StateKind, tokens: number): number | null {
    const measured = this._rates[kind].msPerToken;
    if (measured !== null) {
      return measured * tokens;
    }
    const prefill = this._prefill.msPerToken;
    return prefill === null ? null : OVERHEAD_MS[this._options.device] + prefill * PRIOR_SHARE[this._options.device] * tokens;
  }

  status(): PromptCachePolicyStatus {
    return {
      mode: this._options.mode,
      device: this._options.device,
      prefillMsPerToken: this._prefill.msPerToken,
      evaluationsTimed: this._evaluations.timed,
      evaluationsContended: this._evaluations.contended,
      saveMsPerToken: this._rates.save.msPerToken,
      loadMsPerToken: this._rates.load.msPerToken,
      savesSkipped: this._skipped.save,
      loadsSkipped: this._skipped.load,
      savesDisabled: this._disabled.save,
      loadsDisabled: this._disabled.load,
      recent: [...this._recent]
    };
  }

  private _shouldLoad(tokens: number, held: number, evaluating: number): boolean {
    if (this._options.mode === 'on') {
      return true;
    }
    if (this._disabled.load !== null) {
      return false;
    }
    const evaluation = this._evaluationMs(tokens - held);
    if (evaluation === null) {
      return this._options.device === 'cpu';
    }
    if (this._rates.load.msPerToken === null && this._options.device === 'gpu') {
      return this._worthProbing(tokens, evaluation);
    }
    // Loading: the queued loads, then this one. Evaluating: the same queued loads (they hold the
    // context's lock), then this evaluation beside the others under way.
    return this.expectedMs('load', tokens)! < (evaluating + 1) * evaluation;
  }

  private _shouldSave(tokens: number, reuses: number): boolean {
    if (this._options.mode === 'on') {
      return true;
    }
    if (this._disabled.save !== null || this._disabled.load !== null || reuses <= 0) {
      return false;
    }
    const evaluation = this._evaluationMs(tokens);
    if (evaluation === null) {
      return this._options.device === 'cpu';
    }
    if (this._rates.save.msPerToken === null && this._options.device === 'gpu') {
      return this._worthProbing(tokens, evaluation);
    }
    const saving = reuses * (evaluation - this.expectedMs('load', tokens)!);
    return saving >= MIN_SAVING_MS[this._options.device] && saving > this.expectedMs('save', tokens)!;
  }

  /** A first GPU save or load: only for a prefix long enough to be worth it and short enough to bound its cost. */
  private _worthProbing(tokens: number, evaluationMs: number): boolean {
    return tokens <= PROBE_MAX_TOKENS && evaluationMs >= MIN_SAVING_MS.gpu;
  }

  private _evaluationMs(tokens: number): number | null {
    const perToken = this._prefill.msPerToken;
    return perToken === null ? null : perToken * tokens;
  }

  private readonly _prefill = new RunningRate();
  private readonly _rates: Record<StateKind, RunningRate> = { save: new RunningRate(), load: new RunningRate() };
  private readonly _skipped: Record<StateKind, number> = { save: 0, load: 0 };
  private readonly _evaluations = { timed: 0, contended: 0 };
  private readonly _disabled: Record<StateKind, string | null> = { save: null, load: null };
  private readonly _recent: StateOperation[] = [];
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
