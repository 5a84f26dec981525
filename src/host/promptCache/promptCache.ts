/**
 * Evaluated prompt prefixes kept for new episodes: a warm start.
 *
 * Every episode of a prompt profile starts with the same system prompt, and
 * the G rollouts of a GRPO group start with the same whole prompt. node-llama-cpp
 * 3.21.1 cannot copy one sequence's KV cache into another, but it can save a
 * sequence's state to a file and load it into another sequence of the same
 * context. So the first episode to evaluate a prefix saves its state, and later
 * ones load it and evaluate only what follows (a loaded state longer than the
 * shared part is cut back to it).
 *
 * What is saved: the state up to each boundary the caller names (the end of
 * the system messages), up to the longest prefix shared with a recent new
 * prompt (the fixed instructions that follow), and the whole prompt when
 * another request is waiting for it (a group arriving at once: they wait for
 * the first one's prefill instead of evaluating the same tokens side by side)
 * or when the same prompt came before (a group sent one after another).
 *
 * Whether a state is saved or loaded at all is the StatePolicy's call
 * (statePolicy.ts): on a GPU a load can cost as much as evaluating its tokens,
 * so the host measures both and uses states only where they pay off.
 *
 * State files live in a private temporary folder (mode 0700) that `dispose`
 * removes, and so does the process's exit; folders left by a host that was
 * killed are removed by the next one. A cache belongs to one model and one context: `prepare` refuses a
 * sequence of any other, so a state is never loaded into a model or context
 * size it was not saved from (loading a foreign state can crash llama.cpp).
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import type { PromptCacheDevice, PromptCacheMode, PromptCacheStats, WarmStart } from '../../contract';
import { StatePolicy } from './statePolicy';

/** What the cache needs of a context sequence (node-llama-cpp's `LlamaContextSequence`). */
export interface CacheableSequence {
  readonly contextTokens: Token[];
  readonly contextSize: number;
  readonly model: object;
  adaptStateToTokens(tokens: Token[], allowShift?: boolean): Promise<void>;
  evaluateWithoutGeneratingNewTokens(tokens: Token[]): Promise<void>;
  saveStateToFile(filePath: string): Promise<{ fileSize: number }>;
  loadStateFromFile(filePath: string, acceptRisk: { acceptRisk: true }): Promise<void>;
  clearHistory(): Promise<void>;
}

export interface PromptCacheOptions {
  /** The model and per-sequence context size every sequence given to the cache must have. */
  model: object;
  contextSize: number;
  /** Saved states kept (least recently used dropped first). */
  maxEntries?: number;
  /** Bytes of state files kept at most. */
  maxBytes?: number;
  /** Fewer tokens than this are evaluated rather than loaded or waited for. */
  minTokens?: number;
  /** Parent of the private folder (default: the system's temporary folder). */
  parentDir?: string;
  /** `on` (default): always use states; `auto`: only where this host measured them to pay off. */
  mode?: Exclude<PromptCacheMode, 'off'>;
  /** The device the model runs on: the policy's priors before it has measured (default `cpu`). */
  device?: PromptCacheDevice;
  /** The clock the operations are timed with (milliseconds; tests script it). */
  now?: () => number;
  /**
   * Whether another request is using the context besides the one preparing: a save or load
   * waits for its batches then, so its time is not judged as the state's cost.
   */
  busyElsewhere?: () => boolean;
  onError?: (what: string, err: unknown) => void;
}

export interface PrepareOptions {
  /** Prefix lengths worth saving for later episodes (the end of the system prompt). */
  boundaries?: number[];
  /**
   * The first request of an episode on this sequence. Its prefill is done
   * here, where other new episodes with the same prompt can wait for it and
   * where its state can be saved; a running episode's next step is left to the
   * generation unless a saved state gives more than the sequence holds.
   */
  fresh: boolean;
  signal?: AbortSignal;
}

/** How one prompt was prepared: the warm start the generation result reports, and the tokens evaluated here. */
export interface Preparation extends WarmStart {
  /** Tokens evaluated here (the last prompt token is left to the generation that samples after it). */
  evaluated: number;
  saveMs: number;
  loadMs: number;
}

interface Entry {
  tokens: Token[];
  file: string;
  bytes: number;
  lastUsed: number;
  /** Loads in progress: the file is not removed under them. */
  readers: number;
}

interface Prefill {
  tokens: Token[];
  waiters: number;
  done: Promise<void>;
}

const DIR_PREFIX = 'datarus-prompt-states-';
const DEFAULT_MAX_ENTRIES = 8;
const DEFAULT_MAX_BYTES = 2 * 2 ** 30;
const DEFAULT_MIN_TOKENS = 32;
/** New prompts remembered (as tokens only) to find the prefix the next one shares with them. */
const RECENT_PROMPTS = 8;

/** Length of the common prefix of `a` and `b`, at most `limit`. */
export function commonPrefixLength(a: readonly Token[], b: readonly Token[], limit = Infinity): number {
  const n = Math.min(a.length, b.length, limit);
  let i = 0;
  while (i < n && a[i] === b[i]) {
    i++;
  }
  return i;
}

export class PromptCache {
  constructor(private readonly _options: PromptCacheOptions) {
    const parent = _options.parentDir ?? os.tmpdir();
    removeOrphans(parent);
    this._dir = mkdtempSync(path.join(parent, `${DIR_PREFIX}${process.pid}-`));
    process.once('exit', this._removeDir);
    this._policy = new StatePolicy({ mode: _options.mode ?? 'on', device: _options.device ?? 'cpu' });
    this._now = _options.now ?? (() => performance.now());
    this._busyElsewhere = _options.busyElsewhere ?? (() => false);
  }

  /** The private folder holding the state files. */
  get dir(): string {
    return this._dir;
  }

  stats(): PromptCacheStats {
    return {
      entries: this._entries.length,
      tokens: this._entries.reduce((sum, e) => sum + e.tokens.length, 0),
      bytes: this._entries.reduce((sum, e) => sum + e.bytes, 0),
      ...this._counters,
      policy: this._policy.status()
    };
  }

  /**
   * Brings `sequence` to hold all of `tokens` but the last (as the sequence
   * will hold them, BOS included), from what it holds, a saved state or
   * another request's prefill, evaluating only the rest. Never fails a generation
   * for the cache's sake: a state that cannot be saved or loaded is evaluated.
   */
  async prepare(sequence: CacheableSequence, tokens: Token[], { boundaries = [], fresh, signal }: PrepareOptions): Promise<Preparation> {
    if (this._disposed) {
      throw new Error('the prompt cache was disposed');
    }
    if (sequence.model !== this._options.model || sequence.contextSize !== this._options.contextSize) {
      throw new Error('this sequence belongs to another model or context size than the prompt cache');
    }
    const target = tokens.length - 1;
    const result: Preparation = {
      reused: commonPrefixLength(sequence.contextTokens, tokens, target),
      loaded: 0,
      evaluated: 0,
      waitedMs: 0,
      saveMs: 0,
      loadMs: 0
    };
    if (target - result.reused < this._minTokens) {
      return result;
    }
    // A prefill of the same prompt under way that would give more than any saved state: wait for it.
    for (;;) {
      const saved = this._best(tokens, target).common;
      const prefill = this._bestPrefill(tokens, target, Math.max(result.reused, saved) + this._minTokens);
      if (!prefill || signal?.aborted) {
        break;
      }
      // Waiting pays only if its state will be saved and loading it will beat evaluating alongside it.
      // The prefill waited for shares its batches with the other evaluations as this one would: what
      // waiting adds to it is a load, what evaluating adds is this evaluation.
      const offered = commonPrefixLength(prefill.tokens, tokens, target);
      if (!this._policy.savesAllowed || !this._policy.shouldLoad(offered, { held: result.reused })) {
        break;
      }
      prefill.waiters++;
      this._counters.waits++;
      const started = this._now();
      await untilDoneOrAborted(prefill.done, signal);
      result.waitedMs += this._now() - started;
    }
    if (signal?.aborted) {
      return result;
    }
    const { entry, common } = this._best(tokens, target);
    const load =
      entry !== null &&
      common >= result.reused + this._minTokens &&
      this._policy.shouldLoad(entry.tokens.length, { held: result.reused + entry.tokens.length - common, evaluating: this._evaluating });
    const start = load ? common : result.reused;
    const shared = fresh ? this._recent.map(r => commonPrefixLength(r, tokens, target)) : [];
    // The same prompt came before (rollouts sent one after another): its whole state is worth keeping too.
    const repeated = shared.includes(target);
    const cuts = [...new Set([...boundaries, ...shared])]
      .filter(cut => cut >= start + this._minTokens && cut < target && !this._covers(tokens, cut))
      .sort((a, b) => a - b);
    if (!load && cuts.length === 0 && !fresh) {
      // The next step of a running episode: the generation evaluates its new tokens in the same batch as its first sample.
      return result;
    }
    if (fresh) {
      this._remember(tokens.slice(0, target));
    }

    let done: () => void = () => undefined;
    const prefill: Prefill = { tokens: tokens.slice(0, target), waiters: 0, done: new Promise<void>(r => (done = r)) };
    this._prefills.add(prefill);
    try {
      const loaded = load && (await this._load(sequence, entry, result));
      // Erases what a loaded or handed-over state holds past the shared prefix. With sliding-window
      // attention (no full cache) an erase can drop the whole state: what is kept is read back, not assumed.
      await sequence.adaptStateToTokens(tokens.slice(0, loaded ? common : load ? 0 : result.reused), false);
      const kept = sequence.contextTokens.length;
      result.loaded = loaded ? kept : 0;
      result.reused = loaded ? 0 : kept;
      this._counters.loadedTokens += result.loaded;
      for (const cut of [...cuts, target]) {
        const from = sequence.contextTokens.length;
        if (signal?.aborted || cut <= from) {
          continue;
        }
        result.evaluated += await this._evaluate(sequence, tokens.slice(from, cut));
        // A prefix is saved for the next new episode; the whole prompt for those waiting, or when it came before.
        const reuses = cut < target ? 1 : prefill.waiters + (repeated ? 1 : 0);
        if (reuses > 0 && !this._covers(tokens, cut) && this._policy.shouldSave(cut, reuses)) {
          result.saveMs += await this._save(sequence, tokens.slice(0, cut));
        }
      }
      return result;
    } finally {
      this._prefills.delete(prefill);
      done();
    }
  }

  /**
   * Evaluates `tokens` on the sequence and tells the policy what it cost, with the most work
   * it shared the context with (other evaluations under way, loads queued); returns their count.
   */
  private async _evaluate(sequence: CacheableSequence, tokens: Token[]): Promise<number> {
    const others = () => this._evaluating + this._loading;
    const sharedAtStart = others();
    let contended = sharedAtStart > 0 || this._busyElsewhere();
    this._evaluating++;
    const started = this._now();
    try {
      await sequence.evaluateWithoutGeneratingNewTokens(tokens);
    } finally {
      this._evaluating--;
    }
    const ms = this._now() - started;
    const shared = Math.max(sharedAtStart, others());
    contended ||= shared > 0 || this._busyElsewhere();
    this._policy.recordEvaluation(tokens.length, ms, { shared, contended });
    return tokens.length;
  }

  /** Removes every state file and the folder; later `prepare` calls fail. */
  async dispose(): Promise<void> {
    this._disposed = true;
    this._entries = [];
    process.removeListener('exit', this._removeDir);
    this._removeDir();
  }

  private readonly _removeDir = (): void => rmSync(this._dir, { recursive: true, force: true });

  private get _minTokens(): number {
    return this._options.minTokens ?? DEFAULT_MIN_TOKENS;
  }

  /** The saved state sharing the longest prefix with `tokens` (at most `limit`). */
  private _best(tokens: Token[], limit: number): { entry: Entry | null; common: number } {
    let best: { entry: Entry | null; common: number } = { entry: null, common: 0 };
    for (const entry of this._entries) {
      const common = commonPrefixLength(entry.tokens, tokens, limit);
      // Equal prefixes: the shorter file loads faster.
      if (common > best.common || (common === best.common && best.entry && entry.tokens.length < best.entry.tokens.length)) {
        best = { entry, common };
      }
    }
    return best;
  }

  private _bestPrefill(tokens: Token[], limit: number, atLeast: number): Prefill | null {
    let best: Prefill | null = null;
    let bestCommon = atLeast - 1;
    for (const prefill of this._prefills) {
      const common = commonPrefixLength(prefill.tokens, tokens, limit);
      if (common > bestCommon) {
        best = prefill;
        bestCommon = common;
      }
    }
    return best;
  }

  /** Whether a saved state already holds the first `length` tokens. */
  private _covers(tokens: Token[], length: number): boolean {
    return this._entries.some(e => e.tokens.length >= length && commonPrefixLength(e.tokens, tokens, length) === length);
  }

  private _remember(tokens: Token[]): void {
    this._recent.unshift(tokens);
    this._recent.length = Math.min(this._recent.length, RECENT_PROMPTS);
  }

  private async _load(sequence: CacheableSequence, entry: Entry, result: Preparation): Promise<boolean> {
    entry.readers++;
    entry.lastUsed = ++this._clock;
    const queued = this._loading++;
    let contended = this._busyElsewhere();
    const started = this._now();
    try {
      await sequence.clearHistory();
      await sequence.loadStateFromFile(entry.file, { acceptRisk: true });
      const ms = this._now() - started;
      this._counters.loads++;
      this._counters.loadMs += ms;
      result.loadMs += ms;
      contended ||= this._busyElsewhere();
      this._policy.record('load', entry.tokens.length, ms, { queued, contended });
      return true;
    } catch (err) {
      this._options.onError?.('loading a saved prompt state', err);
      await sequence.clearHistory().catch(() => undefined);
      await this._drop(entry);
      return false;
    } finally {
      entry.readers--;
      this._loading--;
    }
  }

  /** Saves the sequence's state as holding `tokens`; resolves to the milliseconds it took. */
  private async _save(sequence: CacheableSequence, tokens: Token[]): Promise<number> {
    const file = path.join(this._dir, `state-${++this._files}.bin`);
    const contended = this._loading > 0 || this._busyElsewhere();
    const started = this._now();
    try {
      const { fileSize } = await sequence.saveStateToFile(file);
      const ms = this._now() - started;
      this._policy.record('save', tokens.length, ms, { contended: contended || this._loading > 0 || this._busyElsewhere() });
      if (this._disposed) {
        await unlink(file).catch(() => undefined);
        return ms;
      }
      this._counters.saves++;
      this._counters.savedTokens += tokens.length;
      this._counters.saveMs += ms;
      this._entries.push({ tokens, file, bytes: fileSize, lastUsed: ++this._clock, readers: 0 });
      await this._evict();
      return ms;
    } catch (err) {
      this._options.onError?.('saving a prompt state', err);
      await unlink(file).catch(() => undefined);
      return this._now() - started;
    }
  }

  /** Keeps the entries within their count and bytes, dropping the least recently used not being loaded. */
  private async _evict(): Promise<void> {
    const maxEntries = this._options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    const maxBytes = this._options.maxBytes ?? DEFAULT_MAX_BYTES;
    const byAge = [...this._entries].sort((a, b) => a.lastUsed - b.lastUsed);
    for (const entry of byAge) {
      const bytes = this._entries.reduce((sum, e) => sum + e.bytes, 0);
      if (this._entries.length <= maxEntries && bytes <= maxBytes) {
        break;
      }
      if (entry.readers === 0) {
        await this._drop(entry);
      }
    }
  }

  private async _drop(entry: Entry): Promise<void> {
    this._entries = this._entries.filter(e => e !== entry);
    await unlink(entry.file).catch(() => undefined);
  }

  private readonly _dir: string;
  private readonly _policy: StatePolicy;
  private readonly _now: () => number;
  private readonly _busyElsewhere: () => boolean;
  /** Loads under way: they run one after another in a context. */
  private _loading = 0;
  /** Evaluations under way: they share the context's batches. */
  private _evaluating = 0;
  private _entries: Entry[] = [];
  private readonly _prefills = new Set<Prefill>();
  private readonly _recent: Token[][] = [];
  private readonly _counters = { saves: 0, savedTokens: 0, loads: 0, loadedTokens: 0, waits: 0, saveMs: 0, loadMs: 0 };
  private _clock = 0;
  private _files = 0;
  private _disposed = false;
}

/** Resolves when `done` settles or `signal` aborts, whichever is first. */
function untilDoneOrAborted(done: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) {
    return done;
  }
  return new Promise<void>(resolve => {
    const onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    void done.finally(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/** Removes state folders of this user's hosts that are no longer running (killed before they could clean up). */
function removeOrphans(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent).filter(name => name.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name.slice(DIR_PREFIX.length).split('-')[0]);
    const folder = path.join(parent, name);
    try {
      if (!Number.isInteger(pid) || isRunning(pid) || statSync(folder).uid !== process.getuid?.()) {
        continue;
      }
      rmSync(folder, { recursive: true, force: true });
    } catch {
      // Another host may be removing it at the same moment.
    }
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
