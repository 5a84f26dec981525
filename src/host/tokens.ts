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

/** Tokenizes plain text, substituting the known segments it contains. */
function tokenizePlain(text: string, tokenizer: Tokenizer, known: KnownSegments, option: TokenizeOption, hasContent: boolean): Token[] {
  if (text === '') {
    return [];
  }
  const out: Token[] = [];
  let rest = text;
  let started = hasContent;
  while (rest.length > 0) {
    let best: { index: number; text: string } | null = null;
    for (const segment of known.keys()) {
      const index = rest.indexOf(segment);
      if (index >= 0 && (best === null || index < best.index || (index === best.index && segment.length > best.text.length))) {
        best = { index, text: segment };
      }
    }
    if (best === null) {
      out.push(...tokenizer(rest, false, started ? 'trimLeadingSpace' : option));
      break;
    }
    if (best.index > 0) {
      out.push(...tokenizer(rest.slice(0, best.index), false, started ? 'trimLeadingSpace' : option));
      started = true;
    }
    out.push(...known.get(best.text)!);
    started = true;
    rest = rest.slice(best.index + best.text.length);
  }
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
    out.push(...tokenizePlain(pending, tokenizer, known, undefined, out.length > 0));
    pending = '';
  };
  for (const value of prompt.values) {
    if (typeof value === 'string') {
      pending += value;
      continue;
    }
    flush();
    out.push(...(value instanceof specialTokensText ? value.tokenize(tokenizer, out.length > 0) : value.tokenize(tokenizer)));
  }
  flush();
  return out;
}
