/**
 * Text generation over the loaded model, one context sequence per episode.
 *
 * Each episode (a notebook's Analyze run, say) owns a sequence of a shared
 * context while it is active: episodes never see each other's tokens, and
 * node-llama-cpp batches their evaluation together. A new request of an episode
 * evaluates only the tokens after what its sequence already holds; the text it
 * generated earlier is tokenized back to the exact tokens it sampled (see
 * tokens.ts). When every sequence is taken, the least recently used idle
 * episode loses its sequence; its next request rebuilds the state.
 *
 * Slots are claimed synchronously, before the first `await` of a request, so a
 * burst of concurrent first requests can neither create a context each nor
 * take more sequences than there are: the context is created once (a promise
 * memo) and an evicted episode's sequence is handed straight to the newcomer.
 *
 * A new episode starts warm: its prompt is brought in from a saved state of
 * the longest prefix it shares with earlier prompts (the system prompt, a
 * group's whole prompt), see promptCache.ts; a handed-over sequence keeps what
 * it shares with the newcomer's prompt.
 */
import type {
  ChatHistoryItem,
  ChatWrapper,
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaGrammar,
  LlamaModel,
  LlamaText,
  Token
} from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import { decodeProtocolTurn, FIRST_CHARACTERS_GRAMMAR } from './protocolDecoder';
import { checkGrammarLimits } from './grammarLimits';
import { DomainError } from './errors';
import type { ChatMessage, DecodeStepsMode, EpisodeSlots, GenerateRequest, GenerateResult, PromptCacheMode, StopReason } from '../contract';
import { DecodeSteps } from './decodeSteps';
import { commonPrefixLength, Preparation, PromptCache } from './promptCache';
import { KnownSegments, tokenizeKeepingGenerated } from './tokens';

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

interface Episode {
  id: string;
  sequence: LlamaContextSequence | null;
  /** Holds one of the maxEpisodes slots: its sequence, or one being prepared for it. */
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

const DEFAULT_MAX_TOKENS = 512;
const MAX_KNOWN_SEGMENTS = 256;
/**
 * Episode records kept beyond those holding a slot. A record without a slot
 * only remembers generated text for exact re-tokenization; clients that never
 * end their episodes must not grow the map forever, so the least recently used
 * idle records are forgotten past this many (their next request starts afresh).
 */
const MAX_IDLE_EPISODE_RECORDS = 64;
/**
 * Prompt characters allowed per context token. Tokenizing is synchronous and,
 * for long runs of one character, worse than linear (4 MB of one letter held
 * the event loop for minutes): a bound on characters, checked before anything
 * is tokenized, keeps it short. Real text and code run 2-5 characters a token,
 * so only degenerate text (long runs of spaces) that might still fit is refused.
 */
export const MAX_PROMPT_CHARS_PER_TOKEN = 16;
/** Parsed grammars kept for reuse; clients sending ever new grammars must not grow the cache forever. */
const MAX_CACHED_GRAMMARS = 32;

export class Generator {
  constructor(
    private readonly _lib: LlamaModule,
    private readonly _llama: Llama,
    private readonly _model: LlamaModel,
    private readonly _options: GeneratorOptions
  ) {
    this._chatWrapper = _lib.resolveChatWrapper(_model) ?? new _lib.GeneralChatWrapper();
    this._decodeSteps = (_options.decodeSteps ?? 'together') === 'together' ? new DecodeSteps() : null;
  }

  /** The chat wrapper resolved from the GGUF (its template or architecture). */
  get chatWrapperName(): string {
    return this._chatWrapper.wrapperName;
  }

  get contextSize(): number {
    return this._options.contextSize;
  }

  stats(): EpisodeSlots {
    return {
      active: this._slotsInUse,
      maxEpisodes: this._options.maxEpisodes,
      episodes: this._episodes.size,
      generating: this.generating,
      contextsCreated: this._contextsCreated,
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
    const history: ChatHistoryItem[] = [];
    for (const message of messages) {
      if (message.role === 'system') {
        history.push({ type: 'system', text: message.content });
      } else if (message.role === 'user') {
        history.push({ type: 'user', text: message.content });
      } else {
        history.push({ type: 'model', response: [message.content] });
      }
    }
    const last = history[history.length - 1];
    if (last?.type === 'model') {
      // The last assistant turn is continued, not closed: the model writes on from its end.
      const { contextText } = this._chatWrapper.generateContextState({ chatHistory: history });
      return contextText;
    }
    history.push({ type: 'model', response: [] });
    return this._chatWrapper.generateContextState({ chatHistory: history }).contextText;
  }

  async generate(request: GenerateRequest, onText: (text: string) => void, signal?: AbortSignal): Promise<GenerateResult> {
    const started = performance.now();
    if (this._heldFor !== null) {
      throw new DomainError('model_loading', `${this._heldFor}; try again in a moment`);
    }
    this._checkPromptLength(request);
    const episode = this._episode(request.episodeId);
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
      const sequence = await this._sequenceFor(episode);
      const prompt = request.messages ? this.renderChat(request.messages) : request.prompt!;
      const tokens = this._tokenize(prompt, episode.known);
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
        this._rememberTokens(episode, turn.text + (stopString ?? ''), turn.tokens);
      } else {
        this._remember(episode, tokens, turn.text + (stopString ?? ''), sequence);
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
          await this._release(episode);
        } else if (!episode.hasSlot && episode.known.size === 0 && this._episodes.get(episode.id) === episode) {
          // Refused (429) or failed before generating anything: there is nothing to remember.
          this._episodes.delete(episode.id);
        }
      } finally {
        this._running.delete(running);
        finished();
      }
    }
  }

  /** Stops an episode's generation, if any, saying how many tokens it had sampled then. */
  cancel(episodeId: string): { cancelled: boolean; tokensAtCancel: number | null } {
    const episode = this._episodes.get(episodeId);
    if (!episode?.abort) {
      return { cancelled: false, tokensAtCancel: null };
    }
    const tokensAtCancel = episode.sampled;
    episode.abort.abort();
    return { cancelled: true, tokensAtCancel };
  }

  /** Forgets an episode: its sequence is freed for others. */
  async end(episodeId: string): Promise<boolean> {
    const episode = this._episodes.get(episodeId);
    if (!episode) {
      return false;
    }
    episode.abort?.abort();
    episode.ended = true;
    this._episodes.delete(episodeId);
    // A generating episode frees its sequence itself when the generation returns.
    if (!episode.busy) {
      await this._release(episode);
    }
    return true;
  }

  /**
   * Stops every generation, waits until each has returned, then frees the
   * context: nothing is ever disposed under a running generation.
   */
  async dispose(): Promise<void> {
    this.hold('the model is being unloaded');
    for (const episode of this._episodes.values()) {
      episode.abort?.abort();
    }
    while (this._running.size > 0) {
      await Promise.allSettled([...this._running]);
    }
    this._episodes.clear();
    const context = await this._contextPromise?.catch(() => null);
    this._contextPromise = null;
    await context?.dispose();
    await this._promptCache?.dispose();
    this._promptCache = null;
    this._grammars.clear();
  }

  /** Refuses, before tokenizing, prompts too long for any tokenization to fit the context. */
  private _checkPromptLength(request: GenerateRequest): void {
    const chars = request.messages ? request.messages.reduce((sum, m) => sum + m.content.length, 0) : request.prompt!.length;
    const limit = this._options.contextSize * MAX_PROMPT_CHARS_PER_TOKEN;
    if (chars > limit) {
      throw new DomainError(
        'prompt_too_long',
        `the prompt is ${chars} characters; a context of ${this._options.contextSize} tokens takes at most ${limit}. Shorten it or load the model with a larger context`
      );
    }
  }

  private _episode(id: string | undefined): Episode {
    const key = id ?? `oneoff-${++this._oneOffs}`;
    let episode = this._episodes.get(key);
    if (!episode) {
      episode = { id: key, sequence: null, hasSlot: false, ended: false, known: new Map(), busy: false, lastUsed: Date.now(), abort: null, sampled: 0 };
      this._forgetIdleRecords();
      this._episodes.set(key, episode);
    }
    return episode;
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
        sequences: this._options.maxEpisodes,
        threads: this._options.threads,
        flashAttention: this._options.flashAttention
      });
      // A failed creation is not remembered: the next request tries again.
      this._contextPromise.then(
        context => {
          const mode = this._options.promptCache === true || this._options.promptCache === undefined ? 'auto' : this._options.promptCache;
          if (mode !== false && mode !== 'off' && !this._promptCache) {
            this._promptCache = new PromptCache({
              model: this._model,
              contextSize: context.contextSize,
              mode,
              device: this._llama.gpu === false ? 'cpu' : 'gpu',
              // The request preparing counts itself among those generating.
              busyElsewhere: () => this._generating > 1,
              onError: (what, err) => process.stderr.write(`datarus host: ${what} failed, evaluating instead: ${(err as Error).message}\n`)
            });
          }
        },
        () => (this._contextPromise = null)
      );
    }
    return this._contextPromise;
  }

  private async _sequenceFor(episode: Episode): Promise<LlamaContextSequence> {
    if (episode.sequence) {
      return episode.sequence;
    }
    // Everything up to the first await runs at once: the slot is claimed before another request can look.
    let handedOver: LlamaContextSequence | null = null;
    if (this._slotsInUse >= this._options.maxEpisodes) {
      const idle = [...this._episodes.values()]
        .filter(e => e.sequence !== null && !e.busy)
        .sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!idle) {
        throw new DomainError(
          'too_many_episodes',
          `all ${this._options.maxEpisodes} episode slots are generating; try again when one finishes (or start the host with more --max-episodes)`
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
        // Its tokens stay: what they share with the newcomer's prompt is not evaluated again.
        sequence = handedOver;
      } else {
        sequence = (await this._context()).getSequence();
        this._decodeSteps?.align(sequence);
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
  private async _release(episode: Episode): Promise<void> {
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
      if (episode.id.startsWith('oneoff-')) {
        this._episodes.delete(episode.id);
      }
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
    const held = this._asHeld(tokens);
    const boundaries = request.messages ? this._systemPromptEnd(request.messages, held) : [];
    return this._promptCache.prepare(sequence, held, { boundaries, fresh, signal });
  }

  /** The tokens as the sequence holds them: with the beginning token LlamaCompletion puts in front (as it decides it). */
  private _asHeld(tokens: Token[]): Token[] {
    const type = this._model.vocabularyType;
    const { LlamaVocabularyType } = this._lib;
    const bos =
      type === LlamaVocabularyType.rwkv || type === LlamaVocabularyType.ugm
        ? null
        : type === LlamaVocabularyType.wpm || this._model.tokens.shouldPrependBosToken
          ? this._model.tokens.bos
          : null;
    return bos === null ? tokens : [bos, ...tokens];
  }

  /** Where the leading system messages end in `held`: every episode of a profile shares them. */
  private _systemPromptEnd(messages: ChatMessage[], held: Token[]): number[] {
    const system: ChatHistoryItem[] = [];
    for (const message of messages) {
      if (message.role !== 'system') {
        break;
      }
      system.push({ type: 'system', text: message.content });
    }
    if (system.length === 0) {
      return [];
    }
    const text = this._chatWrapper.generateContextState({ chatHistory: system }).contextText;
    const tokens = this._asHeld(this._tokenize(text, new Map()));
    return [commonPrefixLength(tokens, held)];
  }

  /**
   * The prompt's tokens without a leading BOS: LlamaCompletion puts the BOS in
   * front by itself when the model wants one, so a chat template's own BOS
   * would be there twice.
   */
  private _tokenize(prompt: LlamaText | string, known: KnownSegments): Token[] {
    const tokens = tokenizeKeepingGenerated(prompt, this._model.tokenizer, known, this._lib.SpecialTokensText);
    const bos = this._model.tokens.bos;
    return bos !== null && tokens[0] === bos ? tokens.slice(1) : tokens;
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
    const grammar = grammarSpec ? await this._grammar(grammarSpec) : undefined;
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
    const firstCharactersGrammar = await this._grammar(FIRST_CHARACTERS_GRAMMAR);
    return decodeProtocolTurn(this._lib, this._model, sequence, tokens, { ...sampling, stop, signal, firstCharactersGrammar, onText, onToken });
  }

  /** Remembers the exact tokens of a generated text, for the next prompt that contains it. */
  private _rememberTokens(episode: Episode, generatedText: string, tokens: Token[]): void {
    if (generatedText === '' || this._model.detokenize(tokens, true) !== generatedText) {
      return;
    }
    if (episode.known.size >= MAX_KNOWN_SEGMENTS) {
      episode.known.delete(episode.known.keys().next().value!);
    }
    episode.known.set(generatedText, tokens);
  }

  /**
   * Keeps the exact tokens of what was generated, read back from the sequence.
   * The sequence holds the prompt and every generated token but the last (that
   * one was sampled, never evaluated): the rest of the text is tokenized.
   */
  private _remember(episode: Episode, promptTokens: Token[], generatedText: string, sequence: LlamaContextSequence): void {
    const context = sequence.contextTokens;
    // The sequence may hold a BOS token in front of the prompt (see _tokenize).
    const offset = [0, 1].find(o => promptTokens.every((token, i) => context[o + i] === token));
    if (offset === undefined || generatedText === '') {
      return;
    }
    const generated = context.slice(offset + promptTokens.length);
    const spelled = this._model.detokenize(generated, true);
    if (!generatedText.startsWith(spelled)) {
      return;
    }
    const tokens = [...generated, ...this._model.tokenize(generatedText.slice(spelled.length), false, 'trimLeadingSpace')];
    this._rememberTokens(episode, generatedText, tokens);
  }

  /** `grammar: 'datarus'` never comes here: it is decoded segment by segment (`_protocolTurn`). */
  private async _grammar(text: string): Promise<LlamaGrammar> {
    let grammar = this._grammars.get(text);
    if (!grammar) {
      // Before llama.cpp sees it: a grammar nested too deep crashes its parser, uncatchably.
      checkGrammarLimits(text);
      try {
        grammar = await this._llama.createGrammar({ grammar: text });
      } catch (err) {
        throw new DomainError('invalid_grammar', `the grammar could not be parsed: ${(err as Error).message}`);
      }
      if (this._grammars.size >= MAX_CACHED_GRAMMARS) {
        this._grammars.delete(this._grammars.keys().next().value!);
      }
      this._grammars.set(text, grammar);
    }
    return grammar;
  }

  private readonly _chatWrapper: ChatWrapper;
  private readonly _episodes = new Map<string, Episode>();
  private readonly _grammars = new Map<string, LlamaGrammar>();
  private readonly _meter = { input: 0, output: 0 };
  /** One promise per running generation, settled when it has returned and released what it holds. */
  private readonly _running = new Set<Promise<void>>();
  private _contextPromise: Promise<LlamaContext> | null = null;
  private _promptCache: PromptCache | null = null;
  private readonly _decodeSteps: DecodeSteps | null;
  private _contextsCreated = 0;
  private _slotsInUse = 0;
  private _generating = 0;
  private _heldFor: string | null = null;
  private _oneOffs = 0;
}
