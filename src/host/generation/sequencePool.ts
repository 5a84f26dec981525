/**
 * The episodes a generator knows and the context sequences they hold.
 *
 * Each episode (a notebook's Analyze run, say) owns a sequence of one shared
 * context while it is active: episodes never see each other's tokens, and
 * node-llama-cpp batches their evaluation together. When every sequence is
 * taken, the least recently used idle episode loses its sequence; its next
 * request rebuilds the state.
 *
 * Slots are claimed synchronously, before the first `await` of a request, so a
 * burst of concurrent first requests can neither create a context each nor
 * take more sequences than there are: the context is created once (a promise
 * memo) and an evicted episode's sequence is handed straight to the newcomer
 * (`sequence.dispose()` returns its id to the context only asynchronously).
 */
import type { LlamaContext, LlamaContextSequence, LlamaModel } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import { DomainError } from '../errors';
import type { KnownSegments } from './tokens';

export interface Episode {
  id: string;
  sequence: LlamaContextSequence | null;
  /** Holds one of the pool's slots: its sequence, or one being prepared for it. */
  hasSlot: boolean;
  /** Ended (DELETE) while generating: its sequence is freed when the generation finishes. */
  ended: boolean;
  known: KnownSegments;
  busy: boolean;
  lastUsed: number;
  abort: AbortController | null;
  /** Tokens sampled so far by the running generation. */
  sampled: number;
}

export interface SequencePoolOptions {
  contextSize: number;
  /** Sequences of the context: the episodes that can hold one at once. */
  sequences: number;
  threads: number;
  flashAttention: 'auto' | boolean;
  /** Called once the context exists (the generator starts its prompt cache there). */
  onContext?: (context: LlamaContext) => void;
  /** Called with each sequence the pool creates, before anyone uses it (decode steps wrap it). */
  onSequence?: (sequence: LlamaContextSequence) => void;
}

/**
 * Episode records kept beyond those holding a slot. A record without a slot
 * only remembers generated text for exact re-tokenization; clients that never
 * end their episodes must not grow the map forever, so the least recently used
 * idle records are forgotten past this many (their next request starts afresh).
 */
export const MAX_IDLE_EPISODE_RECORDS = 64;

const ONE_OFF_PREFIX = 'oneoff-';

export class SequencePool {
  constructor(
    private readonly _model: LlamaModel,
    private readonly _options: SequencePoolOptions
  ) {}

  /** Slots taken: sequences held, or being prepared. */
  get slotsInUse(): number {
    return this._slotsInUse;
  }

  get maxSlots(): number {
    return this._options.sequences;
  }

  /** Episode records kept, with a slot or without. */
  get size(): number {
    return this._episodes.size;
  }

  get contextsCreated(): number {
    return this._contextsCreated;
  }

  /** The episode of `id`, made when new; without an id, a one-off episode forgotten when released. */
  episode(id: string | undefined): Episode {
    const key = id ?? `${ONE_OFF_PREFIX}${++this._oneOffs}`;
    let episode = this._episodes.get(key);
    if (!episode) {
      episode = { id: key, sequence: null, hasSlot: false, ended: false, known: new Map(), busy: false, lastUsed: Date.now(), abort: null, sampled: 0 };
      this._forgetIdleRecords();
      this._episodes.set(key, episode);
    }
    return episode;
  }

  /** The episode of `id` if known; makes none. */
  find(id: string): Episode | undefined {
    return this._episodes.get(id);
  }

  /** Forgets the record (not its sequence: see `release`), if it is still the one kept under its id. */
  forget(episode: Episode): void {
    if (this._episodes.get(episode.id) === episode) {
      this._episodes.delete(episode.id);
    }
  }

  episodes(): IterableIterator<Episode> {
    return this._episodes.values();
  }

  /**
   * The episode's sequence: the one it holds, a new one of the context, or the
   * sequence of the least recently used idle episode (its tokens kept: what
   * they share with the newcomer's prompt is not evaluated again). Refuses when
   * every slot is generating.
   */
  async sequenceFor(episode: Episode): Promise<LlamaContextSequence> {
    if (episode.sequence) {
      return episode.sequence;
    }
    // Everything up to the first await runs at once: the slot is claimed before another request can look.
    let handedOver: LlamaContextSequence | null = null;
    if (this._slotsInUse >= this._options.sequences) {
      const idle = [...this._episodes.values()].filter(e => e.sequence !== null && !e.busy).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!idle) {
        throw new DomainError(
          'too_many_episodes',
          `all ${this._options.sequences} episode slots are generating; try again when one finishes (or start the host with more --max-episodes)`
        );
      }
      // The evicted episode's sequence changes hands: no slot is ever free for a third request to take.
      handedOver = idle.sequence;
      idle.sequence = null;
      idle.hasSlot = false;
    } else {
      this._slotsInUse++;
    }
    episode.hasSlot = true;
    try {
      let sequence: LlamaContextSequence;
      if (handedOver) {
        sequence = handedOver;
      } else {
        sequence = (await this._context()).getSequence();
        this._options.onSequence?.(sequence);
      }
      episode.sequence = sequence;
      return sequence;
    } catch (err) {
      episode.hasSlot = false;
      if (handedOver) {
        await handedOver.dispose().catch(() => undefined);
      }
      this._slotsInUse--;
      throw err;
    }
  }

  /** Frees an episode's sequence and its slot; the slot counts as taken until the sequence id is back. */
  async release(episode: Episode): Promise<void> {
    const sequence = episode.sequence;
    const hadSlot = episode.hasSlot;
    episode.sequence = null;
    episode.hasSlot = false;
    try {
      if (sequence && !sequence.disposed) {
        await sequence.dispose();
      }
    } finally {
      if (hadSlot) {
        this._slotsInUse--;
      }
      // One-off episodes have no future request: forget them entirely.
      if (episode.id.startsWith(ONE_OFF_PREFIX)) {
        this._episodes.delete(episode.id);
      }
    }
  }

  /** Forgets every episode and frees the context; the caller makes sure none is generating. */
  async dispose(): Promise<void> {
    this._episodes.clear();
    const context = await this._contextPromise?.catch(() => null);
    this._contextPromise = null;
    await context?.dispose();
  }

  /** Bounds the map of episodes: forgets the least recently used records that hold nothing. */
  private _forgetIdleRecords(): void {
    const idle = [...this._episodes.values()].filter(e => !e.hasSlot && !e.busy);
    const excess = idle.length - MAX_IDLE_EPISODE_RECORDS + 1;
    if (excess > 0) {
      for (const episode of idle.sort((a, b) => a.lastUsed - b.lastUsed).slice(0, excess)) {
        this._episodes.delete(episode.id);
      }
    }
  }

  /** The shared context, created by the first request that needs it and only once. */
  private _context(): Promise<LlamaContext> {
    if (!this._contextPromise) {
      this._contextsCreated++;
      this._contextPromise = this._model.createContext({
        contextSize: this._options.contextSize,
        sequences: this._options.sequences,
        threads: this._options.threads,
        flashAttention: this._options.flashAttention
      });
      // A failed creation is not remembered: the next request tries again.
      this._contextPromise.then(
        context => this._options.onContext?.(context),
        () => (this._contextPromise = null)
      );
    }
    return this._contextPromise;
  }

  private readonly _episodes = new Map<string, Episode>();
  private _contextPromise: Promise<LlamaContext> | null = null;
  private _contextsCreated = 0;
  private _slotsInUse = 0;
  private _oneOffs = 0;
}
