/**
 * Text generation over the loaded model: a request's turn (free, under a
 * grammar, or the Datarus protocol decoded in segments) on its episode's
 * context sequence.
 *
 * The pieces it drives each have a module: the episodes and their sequences
 * (sequencePool.ts: one sequence of a shared context per active episode, the
 * least recently used idle one evicted), the prompt as tokens (chatPrompt.ts:
 * the model's chat template, generated text mapped back to the exact tokens it
 * sampled, so a new request evaluates only what its sequence lacks), parsed
 * grammars (grammarCache.ts), and saved prompt states (promptCache.ts: a new
 * episode starts warm from the longest prefix it shares with earlier prompts; a
 * handed-over sequence keeps what it shares with the newcomer's prompt).
 */
import type { Llama, LlamaContextSequence, LlamaModel, LlamaText, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import { decodeProtocolTurn, FIRST_CHARACTERS_GRAMMAR } from '../protocolDecoder';
import { DomainError } from '../errors';
import type { ChatMessage, DecodeStepsMode, EpisodeSlots, GenerateRequest, GenerateResult, PromptCacheMode, StopReason } from '../../contract';
import { ChatPrompt, checkPromptLength, MAX_PROMPT_CHARS_PER_TOKEN, promptChars } from './chatPrompt';
import { DecodeSteps } from './decodeSteps';
import { GrammarCache } from './grammarCache';
import { commonPrefixLength, Preparation, PromptCache } from '../promptCache/promptCache';
import { SequencePool } from './sequencePool';

type LlamaModule = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });

export interface GeneratorOptions {
  contextSize: number;
  threads: number;
  maxEpisodes: number;
  /**
   * Keep evaluated prompt prefixes for new episodes: `auto` (default, true) where
   * this host measures them to pay off, `on` always, `off` (false) never.
   */
  promptCache?: boolean | PromptCacheMode;
  flashAttention: 'auto' | boolean;
  /**
   * `together` (default): generating episodes ask for their next tokens at the same moment, so
   * they share a batch (decodeSteps.ts); `apart` leaves the batching to node-llama-cpp alone.
   */
  decodeSteps?: DecodeStepsMode;
  /** Sampling defaults from the model's manifest. */
  defaults: { temperature?: number; topP?: number; topK?: number; maxTokens?: number };
}

interface Sampling {
  maxTokens: number;
  temperature: number;
  topP?: number;
  topK?: number;
  seed?: number;
}

/** One generated turn, however it was decoded. */
interface Turn {
  text: string;
  stopReason: StopReason;
  stopString: string | null;
  /** Exact tokens of `text + stopString`, when the decoder knows them; otherwise they are read back from the sequence. */
  tokens: Token[] | null;
  /** Output tokens, when they differ from those sampled. */
  completionTokens: number | null;
}

const DEFAULT_MAX_TOKENS = 512;

export class Generator {
  constructor(
    private readonly _lib: LlamaModule,
    private readonly _llama: Llama,
    private readonly _model: LlamaModel,
    private readonly _options: GeneratorOptions
  ) {
    this._prompts = new ChatPrompt(_lib, _model);
    this._grammars = new GrammarCache(_llama);
    this._decodeSteps = (_options.decodeSteps ?? 'together') === 'together' ? new DecodeSteps() : null;
    this._pool = new SequencePool(_model, {
      contextSize: _options.contextSize,
      sequences: _options.maxEpisodes,
      threads: _options.threads,
      flashAttention: _options.flashAttention,
      onContext: context => this._startPromptCache(context.contextSize),
      onSequence: sequence => this._decodeSteps?.align(sequence)
    });
  }

  /** The chat wrapper resolved from the GGUF (its template or architecture). */
  get chatWrapperName(): string {
    return this._prompts.chatWrapperName;
  }

  get contextSize(): number {
    return this._options.contextSize;
  }

  stats(): EpisodeSlots {
    return {
      active: this._pool.slotsInUse,
      maxEpisodes: this._options.maxEpisodes,
      episodes: this._pool.size,
      generating: this.generating,
      contextsCreated: this._pool.contextsCreated,
      evaluatedInputTokens: this._meter.input,
      outputTokens: this._meter.output,
      promptCache: this._promptCache?.stats() ?? null,
      decodeSteps: this._decodeSteps ? { mode: 'together', ...this._decodeSteps.stats() } : { mode: 'apart', steps: null, sequences: null }
    };
  }

  /** Generations running now. */
  get generating(): number {
    return this._generating;
  }

  /**
   * Refuses new generations (503) until `resume`: the engine holds the
   * generator while it loads another model, so that none starts on a context
   * about to be disposed.
   */
  hold(reason: string): void {
    this._heldFor = reason;
  }

  resume(): void {
    this._heldFor = null;
  }

  /** Renders chat messages with the model's own template, ending with an open assistant turn. */
  renderChat(messages: ChatMessage[]): LlamaText {
    return this._prompts.render(messages);
  }

  async generate(request: GenerateRequest, onText: (text: string) => void, signal?: AbortSignal): Promise<GenerateResult> {
    const started = performance.now();
    if (this._heldFor !== null) {
      throw new DomainError('model_loading', `${this._heldFor}; try again in a moment`);
    }
    checkPromptLength(request, this._options.contextSize);
    const episode = this._pool.episode(request.episodeId);
    if (episode.busy) {
      throw new DomainError('episode_busy', `episode ${episode.id} is already generating; wait for it or cancel it`);
    }
    episode.busy = true;
    this._generating++;
    episode.sampled = 0;
    const abort = new AbortController();
    episode.abort = abort;
    const onAbort = () => abort.abort();
    signal?.addEventListener('abort', onAbort);
    let finished: () => void = () => undefined;
    const running = new Promise<void>(resolve => (finished = resolve));
    this._running.add(running);
    try {
      const fresh = episode.sequence === null;
      const sequence = await this._pool.sequenceFor(episode);
      const prompt = request.messages ? this._prompts.render(request.messages) : request.prompt!;
      const tokens = this._prompts.tokenize(prompt, episode.known);
      // One token kept for the BOS that LlamaCompletion may put in front.
      const room = this._options.contextSize - 1 - tokens.length;
      if (room < 1) {
        throw new DomainError(
          'context_overflow',
          `the prompt is ${tokens.length} tokens and the context holds ${this._options.contextSize}; shorten it or load the model with a larger context`
        );
      }
      const maxTokens = Math.min(request.maxTokens ?? this._options.defaults.maxTokens ?? DEFAULT_MAX_TOKENS, room);
      const stop = request.stop ?? [];

      const meterBefore = { input: sequence.tokenMeter.usedInputTokens, output: sequence.tokenMeter.usedOutputTokens };
      const prepared = await this._warmStart(sequence, tokens, request, fresh, abort.signal);
      let firstTokenAt: number | null = null;
      let promptEvaluated: number | null = null;
      const onToken = (sampled: Token[]) => {
        episode.sampled += sampled.length;
        if (firstTokenAt === null) {
          firstTokenAt = performance.now();
          // Everything evaluated before the first sampled token was prompt.
          promptEvaluated = sequence.tokenMeter.usedInputTokens - meterBefore.input;
        }
      };
      const sampling = {
        maxTokens,
        temperature: request.temperature ?? this._options.defaults.temperature ?? 0,
        topP: request.topP ?? this._options.defaults.topP,
        topK: request.topK ?? this._options.defaults.topK,
        seed: request.seed
      };
      const turn =
        request.grammar === 'datarus'
          ? await this._protocolTurn(sequence, tokens, sampling, stop, abort.signal, onToken, onText)
          : await this._completion(sequence, tokens, sampling, request.grammar, stop, abort.signal, onToken, onText);
      const { stopReason, stopString } = turn;
      if (turn.tokens) {
        this._prompts.rememberTokens(episode.known, turn.text + (stopString ?? ''), turn.tokens);
      } else {
        this._prompts.rememberFromSequence(episode.known, tokens, turn.text + (stopString ?? ''), sequence);
      }
      const evaluatedInput = sequence.tokenMeter.usedInputTokens - meterBefore.input;
      const sampledOutput = sequence.tokenMeter.usedOutputTokens - meterBefore.output;
      this._meter.input += evaluatedInput;
      this._meter.output += sampledOutput;
      // The protocol decoder evaluates the turn's fixed text instead of sampling it: it still counts as output.
      const output = turn.completionTokens ?? sampledOutput;
      const totalMs = performance.now() - started;
      const generationMs = firstTokenAt === null ? null : performance.now() - firstTokenAt;
      return {
        episodeId: episode.id,
        text: turn.text,
        stopReason,
        stopString,
        usage: {
          promptTokens: tokens.length,
          evaluatedPromptTokens: promptEvaluated ?? evaluatedInput,
          completionTokens: output
        },
        timings: {
          firstTokenMs: firstTokenAt === null ? null : firstTokenAt - started,
          totalMs,
          tokensPerSecond: generationMs && output > 1 ? ((output - 1) * 1000) / generationMs : null
        },
        warmStart: prepared && {
          reused: prepared.reused,
          loaded: prepared.loaded,
          waitedMs: prepared.waitedMs,
          evaluated: prepared.evaluated,
          saveMs: prepared.saveMs,
          loadMs: prepared.loadMs
        }
      };
    } finally {
      signal?.removeEventListener('abort', onAbort);
      episode.abort = null;
      episode.busy = false;
      episode.lastUsed = Date.now();
      this._generating--;
      try {
        if (request.episodeId === undefined || episode.ended) {
          await this._pool.release(episode);
        } else if (!episode.hasSlot && episode.known.size === 0) {
          // Refused (429) or failed before generating anything: there is nothing to remember.
          this._pool.forget(episode);
        }
      } finally {
        this._running.delete(running);
        finished();
      }
    }
  }

  /** Stops an episode's generation, if any, saying how many tokens it had sampled then. */
  cancel(episodeId: string): { cancelled: boolean; tokensAtCancel: number | null } {
    const episode = this._pool.find(episodeId);
    if (!episode?.abort) {
      return { cancelled: false, tokensAtCancel: null };
    }
    const tokensAtCancel = episode.sampled;
    episode.abort.abort();
    return { cancelled: true, tokensAtCancel };
  }

  /** Forgets an episode: its sequence is freed for others. */
  async end(episodeId: string): Promise<boolean> {
    const episode = this._pool.find(episodeId);
    if (!episode) {
      return false;
    }
    episode.abort?.abort();
    episode.ended = true;
    this._pool.forget(episode);
    // A generating episode frees its sequence itself when the generation returns.
    if (!episode.busy) {
      await this._pool.release(episode);
    }
    return true;
  }

  /**
   * Stops every generation, waits until each has returned, then frees the
   * context: nothing is ever disposed under a running generation.
   */
  async dispose(): Promise<void> {
    this.hold('the model is being unloaded');
    for (const episode of this._pool.episodes()) {
      episode.abort?.abort();
    }
    while (this._running.size > 0) {
      await Promise.allSettled([...this._running]);
    }
    await this._pool.dispose();
    await this._promptCache?.dispose();
    this._promptCache = null;
    this._grammars.clear();
  }

  /**
   * Tokens a chat prompt takes, counted as `generate` counts them (with the
   * episode's generated text as the tokens it produced), so the agent can keep
   * its conversation within the context before sending a turn.
   */
  countTokens(messages: ChatMessage[], episodeId?: string): number {
    // Too long to tokenize safely (see checkPromptLength): a lower bound, over the context, is enough to cut by.
    const chars = promptChars({ messages });
    if (chars > this._options.contextSize * MAX_PROMPT_CHARS_PER_TOKEN) {
      return Math.ceil(chars / MAX_PROMPT_CHARS_PER_TOKEN);
    }
    const known = (episodeId !== undefined ? this._pool.find(episodeId)?.known : undefined) ?? new Map();
    return this._prompts.tokenize(this._prompts.render(messages), known).length;
  }

  /** Starts the prompt cache once the context exists (it belongs to this context). */
  private _startPromptCache(contextSize: number): void {
    const mode = this._options.promptCache === true || this._options.promptCache === undefined ? 'auto' : this._options.promptCache;
    if (mode !== false && mode !== 'off' && !this._promptCache) {
      this._promptCache = new PromptCache({
        model: this._model,
        contextSize,
        mode,
        device: this._llama.gpu === false ? 'cpu' : 'gpu',
        // The request preparing counts itself among those generating.
        busyElsewhere: () => this._generating > 1,
        onError: (what, err) => process.stderr.write(`datarus host: ${what} failed, evaluating instead: ${(err as Error).message}\n`)
      });
    }
  }

  /**
   * Brings the sequence to hold the prompt (but its last token) from a saved
   * state where one shares a prefix with it; null without a prompt cache.
   */
  private async _warmStart(
    sequence: LlamaContextSequence,
    tokens: Token[],
    request: GenerateRequest,
    fresh: boolean,
    signal: AbortSignal
  ): Promise<Preparation | null> {
    if (!this._promptCache) {
      return null;
    }
    const held = this._prompts.asHeld(tokens);
    // Where the leading system messages end in `held`: every episode of a profile shares them.
    const system = request.messages ? this._prompts.systemPromptHeld(request.messages) : null;
    const boundaries = system ? [commonPrefixLength(system, held)] : [];
    return this._promptCache.prepare(sequence, held, { boundaries, fresh, signal });
  }

  /** One completion by node-llama-cpp, under the request's grammar if any. */
  private async _completion(
    sequence: LlamaContextSequence,
    tokens: Token[],
    sampling: Sampling,
    grammarSpec: string | undefined,
    stop: string[],
    signal: AbortSignal,
    onToken: (tokens: Token[]) => void,
    onText: (text: string) => void
  ): Promise<Turn> {
    const grammar = grammarSpec ? await this._grammars.get(grammarSpec) : undefined;
    const completion = new this._lib.LlamaCompletion({ contextSequence: sequence });
    try {
      const result = await completion.generateCompletionWithMeta(tokens, {
        ...sampling,
        grammar,
        customStopTriggers: stop.length > 0 ? stop : undefined,
        signal,
        stopOnAbortSignal: true,
        disableContextShift: true,
        // Never drop the start of the prompt to make room: an overflow is refused before.
        contextShiftSize: 1,
        onToken,
        onTextChunk: onText
      });
      const meta = result.metadata;
      const stopString = meta.stopReason === 'customStopTrigger' ? meta.customStopTrigger.filter(t => typeof t === 'string').join('') : null;
      const stopReason: StopReason =
        meta.stopReason === 'customStopTrigger' || meta.stopReason === 'stopGenerationTrigger'
          ? 'stop'
          : meta.stopReason === 'eogToken'
            ? 'eos'
            : meta.stopReason === 'maxTokens'
              ? 'length'
              : 'abort';
      return { text: result.response, stopReason, stopString, tokens: null, completionTokens: null };
    } finally {
      completion.dispose({ disposeSequence: false });
    }
  }

  /**
   * A turn of the built-in protocol grammar, decoded in segments (see
   * protocolDecoder.ts): the same sentences, without a grammar pass over the
   * vocabulary for each token of the protocol's fixed text.
   */
  private async _protocolTurn(
    sequence: LlamaContextSequence,
    tokens: Token[],
    sampling: Sampling,
    stop: string[],
    signal: AbortSignal,
    onToken: (tokens: Token[]) => void,
    onText: (text: string) => void
  ): Promise<Turn> {
    const firstCharactersGrammar = await this._grammars.get(FIRST_CHARACTERS_GRAMMAR);
    return decodeProtocolTurn(this._lib, this._model, sequence, tokens, { ...sampling, stop, signal, firstCharactersGrammar, onText, onToken });
  }

  private readonly _prompts: ChatPrompt;
  private readonly _grammars: GrammarCache;
  private readonly _pool: SequencePool;
  private readonly _meter = { input: 0, output: 0 };
  /** One promise per running generation, settled when it has returned and released what it holds. */
  private readonly _running = new Set<Promise<void>>();
  private _promptCache: PromptCache | null = null;
  private readonly _decodeSteps: DecodeSteps | null;
  private _generating = 0;
  private _heldFor: string | null = null;
}
