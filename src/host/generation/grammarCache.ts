/**
 * Parsed GBNF grammars kept for reuse, each checked against the limits before
 * llama.cpp sees it. `grammar: 'datarus'` never comes here: it is decoded
 * segment by segment (protocolDecoder.ts).
 */
import type { Llama, LlamaGrammar } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import { DomainError } from '../errors';
import { checkGrammarLimits } from '../grammarLimits';

/** Parsed grammars kept; clients sending ever new grammars must not grow the cache forever. */
export const MAX_CACHED_GRAMMARS = 32;

export class GrammarCache {
  constructor(private readonly _llama: Pick<Llama, 'createGrammar'>) {}

  /** Grammars kept now. */
  get size(): number {
    return this._grammars.size;
  }

  /** The parsed grammar of `text`: the kept one, or a new one (the oldest kept is dropped past the bound). */
  async get(text: string): Promise<LlamaGrammar> {
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

  clear(): void {
    this._grammars.clear();
  }

  private readonly _grammars = new Map<string, LlamaGrammar>();
}
