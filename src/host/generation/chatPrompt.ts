/**
 * A request's prompt as the model's tokens: chat messages rendered with the
 * model's own template, tokenized with the episode's generated text kept as the
 * exact tokens it sampled (tokens.ts), and the tokens remembered after each turn.
 */
import type { ChatHistoryItem, ChatWrapper, LlamaContextSequence, LlamaModel, LlamaText, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import type { ChatMessage, GenerateRequest } from '../../contract';
import { DomainError } from '../errors';
import { KnownSegments, tokenizeKeepingGenerated } from './tokens';

type LlamaModule = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });

/**
 * Prompt characters allowed per context token. Tokenizing is synchronous and,
 * for long runs of one character, worse than linear (4 MB of one letter held
 * the event loop for minutes): a bound on characters, checked before anything
 * is tokenized, keeps it short. Real text and code run 2-5 characters a token,
 * so only degenerate text (long runs of spaces) that might still fit is refused.
 */
export const MAX_PROMPT_CHARS_PER_TOKEN = 16;
/** Generated texts an episode remembers the tokens of; the oldest goes first. */
export const MAX_KNOWN_SEGMENTS = 256;

/** Characters of the prompt's text (messages' contents, or the raw prompt). */
export function promptChars(request: Pick<GenerateRequest, 'messages' | 'prompt'>): number {
  return request.messages ? request.messages.reduce((sum, m) => sum + m.content.length, 0) : request.prompt!.length;
}

/** Refuses, before tokenizing, prompts too long for any tokenization to fit the context. */
export function checkPromptLength(request: Pick<GenerateRequest, 'messages' | 'prompt'>, contextSize: number): void {
  const chars = promptChars(request);
  const limit = contextSize * MAX_PROMPT_CHARS_PER_TOKEN;
  if (chars > limit) {
    throw new DomainError(
      'prompt_too_long',
      `the prompt is ${chars} characters; a context of ${contextSize} tokens takes at most ${limit}. Shorten it or load the model with a larger context`
    );
  }
}

export class ChatPrompt {
  constructor(
    private readonly _lib: LlamaModule,
    private readonly _model: LlamaModel
  ) {
    this._chatWrapper = _lib.resolveChatWrapper(_model) ?? new _lib.GeneralChatWrapper();
  }

  /** The chat wrapper resolved from the GGUF (its template or architecture). */
  get chatWrapperName(): string {
    return this._chatWrapper.wrapperName;
  }

  /** Renders chat messages with the model's own template, ending with an open assistant turn. */
  render(messages: ChatMessage[]): LlamaText {
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

  /**
   * The prompt's tokens without a leading BOS: LlamaCompletion puts the BOS in
   * front by itself when the model wants one, so a chat template's own BOS
   * would be there twice.
   */
  tokenize(prompt: LlamaText | string, known: KnownSegments): Token[] {
    const tokens = tokenizeKeepingGenerated(prompt, this._model.tokenizer, known, this._lib.SpecialTokensText);
    const bos = this._model.tokens.bos;
    return bos !== null && tokens[0] === bos ? tokens.slice(1) : tokens;
  }

  /** The tokens as the sequence holds them: with the beginning token LlamaCompletion puts in front (as it decides it). */
  asHeld(tokens: Token[]): Token[] {
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

  /** The leading system messages rendered alone, as the sequence would hold them: every episode of a profile shares them. */
  systemPromptHeld(messages: ChatMessage[]): Token[] | null {
    const system: ChatHistoryItem[] = [];
    for (const message of messages) {
      if (message.role !== 'system') {
        break;
      }
      system.push({ type: 'system', text: message.content });
    }
    if (system.length === 0) {
      return null;
    }
    const text = this._chatWrapper.generateContextState({ chatHistory: system }).contextText;
    return this.asHeld(this.tokenize(text, new Map()));
  }

  /** Remembers the exact tokens of a generated text, for the next prompt that contains it. */
  rememberTokens(known: KnownSegments, generatedText: string, tokens: Token[]): void {
    if (generatedText === '' || this._model.detokenize(tokens, true) !== generatedText) {
      return;
    }
    if (known.size >= MAX_KNOWN_SEGMENTS) {
      known.delete(known.keys().next().value!);
    }
    known.set(generatedText, tokens);
  }

  /**
   * Keeps the exact tokens of what was generated, read back from the sequence.
   * The sequence holds the prompt and every generated token but the last (that
   * one was sampled, never evaluated): the rest of the text is tokenized.
   */
  rememberFromSequence(known: KnownSegments, promptTokens: Token[], generatedText: string, sequence: LlamaContextSequence): void {
    const context = sequence.contextTokens;
    // The sequence may hold a BOS token in front of the prompt (see tokenize).
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
    this.rememberTokens(known, generatedText, tokens);
  }

  private readonly _chatWrapper: ChatWrapper;
}
