/**
 * Decode steps taken together: every sequence generating on a context asks for
 * its next token at the same moment, so node-llama-cpp decodes their tokens in
 * one batch.
 *
 * node-llama-cpp batches the decodes queued on a context, but its dispatch loop
 * takes whatever is queued the moment a batch ends. A sequence that is still
 * sampling then misses that batch and runs alone in the next one while the
 * first samples, and once apart they stay apart: on the fixture, two sequences
 * decoding 64 tokens each took 128 batches of one token. On a GPU, where a batch
 * of four tokens costs about what one does, several episodes at once are then no
 * faster than one. So between two tokens a sequence waits until every sequence
 * generating on the context is ready for its next token, and they go together.
 *
 * A sequence takes part from its first sampled token (its prompt is evaluated
 * without waiting for anyone) until its generation ends. The only seam between
 * two tokens is the sequence's `evaluate` generator, which LlamaCompletion
 * drives, so that is what is wrapped.
 */
import type { LlamaContextSequence, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

/** What is wrapped: a sequence's token generator, as LlamaCompletion calls it. */
export type SequenceEvaluate = LlamaContextSequence['evaluate'];
type TokenInput = void | Token | Token[];

export interface DecodeStepStats {
  /** Times the waiting sequences were let go together. */
  steps: number;
  /** Sequences let go, summed over the steps: ÷ steps is the sequences per batch the host asked for. */
  sequences: number;
}

export class DecodeSteps {
  /** Makes `sequence` take its decode steps together with the other aligned sequences (once per sequence). */
  align(sequence: { evaluate: SequenceEvaluate }): void {
    if (this._aligned.has(sequence)) {
      return;
    }
    this._aligned.add(sequence);
    const evaluate = sequence.evaluate.bind(sequence);
    sequence.evaluate = ((tokens, options) => this._together(evaluate(tokens, options))) as SequenceEvaluate;
  }

  stats(): DecodeStepStats {
    return { steps: this._steps, sequences: this._sequences };
  }

  private async *_together(tokens: AsyncGenerator<Token, void, TokenInput>): AsyncGenerator<Token, void, TokenInput> {
    const member = {};
    let input: TokenInput = undefined;
    try {
      for (;;) {
        const next = await tokens.next(input);
        if (next.done) {
          return;
        }
        input = yield next.value;
        await this._ready(member);
      }
    } finally {
      this._leave(member);
      await tokens.return(undefined);
    }
  }

  /** Resolves when every member is ready for its next token; `member` joins here. */
  private _ready(member: object): Promise<void> {
    this._members.add(member);
    return new Promise(resolve => {
      this._waiting.set(member, resolve);
      this._releaseIfAllReady();
    });
  }

  private _leave(member: object): void {
    this._members.delete(member);
    this._waiting.delete(member);
    this._releaseIfAllReady();
  }

  private _releaseIfAllReady(): void {
    // Members that wait are members, so equal sizes mean all of them wait.
    if (this._waiting.size === 0 || this._waiting.size < this._members.size) {
      return;
    }
    this._steps++;
    this._sequences += this._waiting.size;
    const ready = [...this._waiting.values()];
    this._waiting.clear();
    for (const go of ready) {
      go();
    }
  }

  private readonly _aligned = new WeakSet<object>();
  private readonly _members = new Set<object>();
  private readonly _waiting = new Map<object, () => void>();
  private _steps = 0;
  private _sequences = 0;
}
