/**
 * Tokenization that keeps what the model generated. Re-tokenizing generated
 * text does not always give the tokens the model sampled, and every token that
 * differs from the KV cache must be evaluated again; so text the host generated
 * is mapped back to its exact tokens wherever it appears in a later prompt.
 * Elsewhere this mirrors `LlamaText.tokenize` in node-llama-cpp.
 */
import type { LlamaText, SpecialTokensText, Token, Tokenizer } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

/** Texts this episode generated, with the exact tokens the model produced for each. */
export type KnownSegments = Map<string, Token[]>;

type TokenizeOption = 'trimLeadingSpace' | undefined;

/** Appends without spreading: a spread of a long token array overflows the call stack. */
function append(out: Token[], tokens: readonly Token[]): void {
  for (const token of tokens) {
    out.push(token);
  }
}

/**
 * Tokenizes plain text, substituting the known segments it contains. Each
 * segment's next occurrence is remembered and searched again only once the
 * text has moved past it, so the work is one scan of the text per segment
 * rather than one per substitution.
 */
function tokenizePlain(text: string, tokenizer: Tokenizer, known: KnownSegments, option: TokenizeOption, hasContent: boolean): Token[] {
  if (text === '') {
    return [];
  }
  const out: Token[] = [];
  const next = new Map<string, number>();
  for (const segment of known.keys()) {
    if (segment !== '') {
      next.set(segment, text.indexOf(segment));
    }
  }
  let position = 0;
  let started = hasContent;
  const tokenizeUpTo = (end: number) => {
    if (end > position) {
      append(out, tokenizer(text.slice(position, end), false, started ? 'trimLeadingSpace' : option));
      started = true;
    }
  };
  while (position < text.length) {
    let best: { index: number; text: string } | null = null;
    for (const [segment, cached] of next) {
      let index = cached;
      if (index >= 0 && index < position) {
        index = text.indexOf(segment, position);
        next.set(segment, index);
      }
      if (index >= 0 && (best === null || index < best.index || (index === best.index && segment.length > best.text.length))) {
        best = { index, text: segment };
      }
    }
    if (best === null) {
      break;
    }
    tokenizeUpTo(best.index);
    append(out, known.get(best.text)!);
    started = true;
    position = best.index + best.text.length;
  }
  tokenizeUpTo(text.length);
  return out;
}

/** Tokenizes a prompt (text, or a chat wrapper's LlamaText) with the known segments kept exact. */
export function tokenizeKeepingGenerated(
  prompt: LlamaText | string,
  tokenizer: Tokenizer,
  known: KnownSegments,
  specialTokensText: typeof SpecialTokensText
): Token[] {
  if (typeof prompt === 'string') {
    return tokenizePlain(prompt, tokenizer, known, undefined, false);
  }
  const out: Token[] = [];
  let pending = '';
  const flush = () => {
    append(out, tokenizePlain(pending, tokenizer, known, undefined, out.length > 0));
    pending = '';
  };
  for (const value of prompt.values) {
    if (typeof value === 'string') {
      pending += value;
      continue;
    }
    flush();
    append(out, value instanceof specialTokensText ? value.tokenize(tokenizer, out.length > 0) : value.tokenize(tokenizer));
  }
  flush();
  return out;
}
