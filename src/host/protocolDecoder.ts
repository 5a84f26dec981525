/**
 * Decoding of one Datarus turn without running the protocol grammar over the
 * vocabulary. Under `DATARUS_AGENTIC_GRAMMAR` a model that does not already
 * write the protocol has its fixed text (`<step>\n<thought>`, ...) refused token
 * by token, and each refusal costs a pass of the grammar over every vocabulary
 * entry. Here the fixed text is appended as prompt tokens (evaluated, not
 * sampled) and only the free parts are sampled, ended by stop strings: `<` for
 * text, `</` for code. The model still chooses between `<step>` and
 * `<stop_analysis>`, token by token, among those two words' tokens alone.
 *
 * The result is a sentence of (or, when cut off, a prefix of) the protocol
 * grammar, and the tokens returned spell it exactly, so that the next step's
 * prompt reuses the KV cache.
 */
import type {
  LlamaContextSequence,
  LlamaGrammar,
  LlamaModel,
  Token,
  TokenBias
} from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import { FREE_PART_END, TURN_OPENERS, TURN_SHAPES, TurnOpener, TurnPart } from '../protocol/turnText';

type LlamaModule = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });

/** The model's choice of turn: the only part of the protocol's fixed text it samples. */
export { TURN_OPENERS };
/** A free part may not start with its stop string: its first token is then sampled under this. */
const FIRST_CHARACTERS_GRAMMAR = 'root ::= [^<]+';

/** The text that closes a step after its code (the step shape's last literal): see closeCode. */
const CLOSE_STEP = closingLiteral(TURN_SHAPES['<step>']);

/**
 * The turn after its opener, as fixed text and free parts, from the protocol's
 * turn shapes: the opener is chosen token by token, and a step's closing text
 * depends on how its code ended (closeCode).
 */
export const TURN_PARTS: Record<TurnOpener, TurnPart[]> = {
  '<step>': afterOpener('<step>').slice(0, -1),
  '<stop_analysis>': afterOpener('<stop_analysis>')
};

function afterOpener(opener: TurnOpener): TurnPart[] {
  const [first, ...rest] = TURN_SHAPES[opener];
  if (!('literal' in first) || !first.literal.startsWith(opener)) {
    throw new Error(`the ${opener} shape does not start with its opener`);
  }
  return [{ literal: first.literal.slice(opener.length) }, ...rest];
}

function closingLiteral(shape: readonly TurnPart[]): string {
  const last = shape[shape.length - 1];
  if (!('literal' in last) || !last.literal.startsWith('\n')) {
    throw new Error('the step shape must end with fixed text that starts on a new line');
  }
  return last.literal;
}

const FREE_STOP = FREE_PART_END;
/** Added to the logits of the tokens an opener may continue with: far above any real logit gap. */
const OPENER_BIAS = 1000;

/**
 * The text that closes a step after its code. A model that ends its code with
 * a newline meant it as the newline before `</action_input>`; keeping it there
 * leaves the code as written. The grammar's `code` may not end in `<` (it needs
 * a character after one), so such code keeps a newline of its own.
 */
export function closeCode(code: string): string {
  if (code.endsWith('<')) {
    return `\n${CLOSE_STEP}`;
  }
  const trimmed = code.slice(0, -1);
  if (code.endsWith('\n') && trimmed !== '' && !trimmed.endsWith('<')) {
    return CLOSE_STEP.slice(1);
  }
  return CLOSE_STEP;
}

export interface ProtocolTurnOptions {
  maxTokens: number;
  temperature: number;
  topP?: number;
  topK?: number;
  seed?: number;
  /** The request's stop strings, matched anywhere in the turn's text. */
  stop: string[];
  signal: AbortSignal;
  /** FIRST_CHARACTERS_GRAMMAR, parsed by the caller (it caches grammars). */
  firstCharactersGrammar: LlamaGrammar;
  onText: (text: string) => void;
  /** Tokens the model sampled, as node-llama-cpp reports them. */
  onToken: (tokens: Token[]) => void;
}

export interface ProtocolTurn {
  /** The turn's text, without the stop string that ended it. */
  text: string;
  stopReason: 'stop' | 'eos' | 'length' | 'abort';
  stopString: string | null;
  /** Tokens that spell `text + stopString` exactly, or null if none could be found. */
  tokens: Token[] | null;
  /** Tokens of the turn's text, sampled or fixed: what the grammar would have produced. */
  completionTokens: number;
}

export { FIRST_CHARACTERS_GRAMMAR };

/** Builds a turn's text and its exact tokens, segment by segment, with the request's stop strings. */
class TurnState {
  text = '';
  tokens: Token[] = [];
  /** Tokens produced so far, sampled or fixed: what the token limit counts. */
  produced = 0;
  stopString: string | null = null;
  private _emitted = 0;
  private readonly _holdBack: number;

  constructor(
    private readonly _model: LlamaModel,
    private readonly _stops: string[],
    private readonly _onText: (text: string) => void
  ) {
    // Text that may be the start of a stop string is streamed only once that is settled.
    this._holdBack = Math.max(0, ..._stops.map(s => s.length - 1));
  }

  /** Appends a segment; true when a stop string now ends the turn. */
  append(text: string, tokens: Token[]): boolean {
    const searchFrom = Math.max(0, this.text.length - this._holdBack);
    this.text += text;
    this.tokens.push(...tokens);
    let found: { index: number; stop: string } | null = null;
    for (const stop of this._stops) {
      const index = this.text.indexOf(stop, searchFrom);
      if (index >= 0 && (found === null || index < found.index)) {
        found = { index, stop };
      }
    }
    if (found) {
      const end = found.index + found.stop.length;
      this.tokens = exactTokens(this._model, this.tokens, this.text.slice(0, end)) ?? [];
      this.text = this.text.slice(0, found.index);
      this.stopString = found.stop;
      this.flush();
      return true;
    }
    this._streamUpTo(this.text, this.text.length - this._holdBack);
    return false;
  }

  /**
   * Streams what of `text` (the turn so far and the segment being sampled)
   * cannot be a stop string's start. Text from a broken character on waits
   * for the segment's end: its final spelling may join bytes that the chunks
   * split.
   */
  stream(text: string): void {
    const broken = text.indexOf('\uFFFD', this._emitted);
    this._streamUpTo(text, Math.min(text.length - this._holdBack, broken >= 0 ? broken : text.length));
  }

  private _streamUpTo(text: string, safe: number): void {
    if (safe > this._emitted) {
      this._onText(text.slice(this._emitted, safe));
      this._emitted = safe;
    }
  }

  flush(): void {
    if (this.text.length > this._emitted) {
      this._onText(this.text.slice(this._emitted));
      this._emitted = this.text.length;
    }
  }
}

/**
 * Tokens spelling `text`: the longest run of `tokens` from the start whose text
 * is a prefix of it, then the rest tokenized. Null when even that does not spell it.
 */
export function exactTokens(model: LlamaModel, tokens: readonly Token[], text: string): Token[] | null {
  // From the end: usually all the tokens, or all but the one that ran past the text, spell a prefix.
  let kept = tokens.length;
  let spelled = model.detokenize(tokens, true);
  while (kept > 0 && !text.startsWith(spelled)) {
    kept--;
    spelled = model.detokenize(tokens.slice(0, kept), true);
  }
  if (!text.startsWith(spelled)) {
    return null;
  }
  const rest = text.slice(spelled.length);
  const result = [...tokens.slice(0, kept), ...(rest === '' ? [] : model.tokenize(rest, false, 'trimLeadingSpace'))];
  return model.detokenize(result, true) === text ? result : null;
}

/** Decodes one Datarus turn after `prompt` on `sequence`. */
export async function decodeProtocolTurn(
  lib: LlamaModule,
  model: LlamaModel,
  sequence: LlamaContextSequence,
  prompt: Token[],
  options: ProtocolTurnOptions
): Promise<ProtocolTurn> {
  const turn = new TurnState(model, options.stop, options.onText);
  const noEnd = endTokensNever(lib, model);
  let segments = 0;
  let ended = null as ProtocolTurn['stopReason'] | null;

  /** Samples one segment; returns its text and exact tokens, and how it ended. */
  const sample = async (settings: { grammar?: LlamaGrammar; stops: string[]; maxTokens: number; tokenBias?: TokenBias }) => {
    const input = [...prompt, ...turn.tokens];
    const completion = new lib.LlamaCompletion({ contextSequence: sequence });
    const prefix = turn.text;
    let streamed = '';
    const sampled: Token[] = [];
    try {
      const result = await completion.generateCompletionWithMeta(input, {
        maxTokens: settings.maxTokens,
        temperature: options.temperature,
        topP: options.topP,
        topK: options.topK,
        // Each segment gets its own seed: the same one would restart the same random sequence.
        seed: options.seed === undefined ? undefined : options.seed + segments++,
        grammar: settings.grammar,
        tokenBias: settings.tokenBias,
        customStopTriggers: settings.stops,
        signal: options.signal,
        stopOnAbortSignal: true,
        disableContextShift: true,
        contextShiftSize: 1,
        onToken: tokens => {
          sampled.push(...tokens);
          options.onToken(tokens);
        },
        onTextChunk: chunk => {
          streamed += chunk;
          turn.stream(prefix + streamed);
        }
      });
      const meta = result.metadata;
      const trigger = meta.stopReason === 'customStopTrigger' ? meta.customStopTrigger.filter(t => typeof t === 'string').join('') : null;
      // The sequence holds the input and every sampled token but the last.
      const context = sequence.contextTokens;
      const offset = [0, 1].find(o => input.every((token, i) => context[o + i] === token)) ?? 0;
      const evaluated = context.slice(offset + input.length);
      if (meta.stopReason === 'maxTokens' && evaluated.length > sampled.length) {
        // Cut off: node-llama-cpp holds back tokens that may begin a stop string, the grammar would not.
        const held = evaluated.slice(sampled.length);
        return { response: result.response + model.detokenize(held, false, sampled), trigger, stopReason: meta.stopReason, evaluated, produced: evaluated.length + 1, sampledTokens: sampled };
      }
      // Every sampled token is evaluated but the last one, an end-of-text token when the grammar completed.
      const produced = evaluated.length + (meta.stopReason === 'eogToken' ? 0 : 1);
      return { response: result.response, trigger, stopReason: meta.stopReason, evaluated, produced, sampledTokens: sampled };
    } finally {
      completion.dispose({ disposeSequence: false });
    }
  };
  const budget = () => options.maxTokens - turn.produced;
  /** Appends sampled text; false when the turn ended (cut off, aborted, or a request's stop string). */
  const appendSampled = (text: string, evaluated: Token[], produced: number, stopReason: string): boolean => {
    turn.produced += produced;
    // Text that no tokens spell (broken UTF-8) keeps the tokens sampled: the sequence holds them, and they are what the budget counts.
    const tokens = exactTokens(model, evaluated, text) ?? evaluated;
    if (turn.append(text, tokens)) {
      ended = 'stop';
      return false;
    }
    if (stopReason === 'abort' || options.signal.aborted) {
      ended = 'abort';
      return false;
    }
    if (stopReason === 'maxTokens' || budget() <= 0) {
      ended = 'length';
      return false;
    }
    return true;
  };
  const appendLiteral = (literal: string): boolean => {
    let tokens = model.tokenize(literal, false, 'trimLeadingSpace');
    const cut = tokens.length > budget();
    if (cut) {
      tokens = tokens.slice(0, Math.max(0, budget()));
    }
    const text = cut ? model.detokenize(tokens, true) : literal;
    turn.produced += tokens.length;
    if (turn.append(text, tokens)) {
      ended = 'stop';
      return false;
    }
    if (cut) {
      ended = 'length';
      return false;
    }
    return true;
  };
  /**
   * The model's choice of opener, one token at a time among the openers'
   * tokens at that position: a large logit bias on those tokens keeps their
   * ratio to each other and leaves nothing else a chance, without a grammar
   * pass over the vocabulary. Once one opener is left, its rest is fixed text.
   */
  const chooseOpener = async (): Promise<TurnOpener | null> => {
    const spelled = TURN_OPENERS.map(o => ({ opener: o, tokens: model.tokenize(o, false, 'trimLeadingSpace') }));
    let candidates = spelled;
    for (let i = 0; candidates.length > 1; i++) {
      const bias = new lib.TokenBias(model.tokenizer);
      for (const { tokens } of candidates) {
        if (i < tokens.length) {
          bias.set(tokens[i], { logit: OPENER_BIAS });
        }
      }
      const next = await sample({ stops: [], maxTokens: 1, tokenBias: bias });
      const token = next.sampledTokens[0];
      candidates = candidates.filter(c => c.tokens[i] === token);
      if (candidates.length === 0) {
        // Unreachable with the bias above; refused rather than written off the grammar.
        throw new Error('the model chose no turn opener');
      }
      if (!appendSampled(next.response, next.sampledTokens, next.produced, next.stopReason === 'maxTokens' ? 'continue' : next.stopReason)) {
        return null;
      }
    }
    const [{ opener }] = candidates;
    return appendLiteral(opener.slice(turn.text.length)) ? opener : null;
  };
  /** A free part: at least one character, ended before its stop string. */
  const appendFree = async (kind: 'text' | 'code'): Promise<string | null> => {
    const stops = [FREE_STOP[kind], ...options.stop];
    let part = '';
    for (;;) {
      const first = part === '';
      const segment = await sample({
        stops,
        maxTokens: budget(),
        tokenBias: noEnd
      });
      const own = segment.trigger === FREE_STOP[kind];
      const text = segment.response + (segment.trigger !== null && !own ? segment.trigger : '');
      const endOfText = segment.stopReason === 'eogToken';
      if (endOfText && !appendSampled(text, segment.evaluated, segment.produced, 'continue')) {
        return null;
      }
      if ((text === '' && own && first) || endOfText) {
        // The model would close the part at once, or end the text (an end token other than those banned):
        // its next token is chosen among those that may go on, as under the grammar.
        part += endOfText ? text : '';
        const forced = await sample({ grammar: options.firstCharactersGrammar, stops: [], maxTokens: 1, tokenBias: noEnd });
        part += forced.response;
        if (!appendSampled(forced.response, forced.evaluated, forced.produced, forced.response === '' ? 'abort' : 'continue')) {
          return null;
        }
        continue;
      }
      part += text;
      if (!appendSampled(text, segment.evaluated, segment.produced, own ? 'continue' : segment.stopReason)) {
        return null;
      }
      if (own) {
        return part;
      }
    }
  };

  const opener = await chooseOpener();
  if (opener === null) {
    return finish(turn, ended ?? 'length');
  }
  for (const part of TURN_PARTS[opener]) {
    if ('literal' in part) {
      if (!appendLiteral(part.literal)) {
        return finish(turn, ended!);
      }
      continue;
    }
    const free = await appendFree(part.free);
    if (free === null) {
      return finish(turn, ended!);
    }
    if (part.free === 'code' && !appendLiteral(closeCode(free))) {
      return finish(turn, ended!);
    }
  }
  // A complete turn that no stop string ended: the grammar would end it here, with an end-of-text token.
  return finish(turn, 'eos');
}

function finish(turn: TurnState, stopReason: ProtocolTurn['stopReason']): ProtocolTurn {
  turn.flush();
  return {
    text: turn.text,
    stopReason,
    stopString: turn.stopString,
    tokens: turn.tokens.length > 0 ? turn.tokens : null,
    completionTokens: turn.produced
  };
}

function endTokensNever(lib: LlamaModule, model: LlamaModel): TokenBias {
  const tokenBias = new lib.TokenBias(model.tokenizer);
  for (const end of [model.tokens.eos, model.tokens.eot]) {
    if (end !== null) {
      tokenBias.set(end, 'never');
    }
  }
  return tokenBias;
}
