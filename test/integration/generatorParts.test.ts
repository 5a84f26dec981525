/**
 * The generator's pieces on real node-llama-cpp with the fixture model: the sequence pool (one context,
 * slots claimed before the first await, the least recently used idle episode handing its sequence over),
 * the chat prompt (the model's template, exact tokens of generated text remembered) and the grammar cache
 * (reuse, limits before llama.cpp, a bound). fixtures/generatorPartsProbe.mjs drives them in a child process.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { FIXTURE, ROOT } from './paths';

jest.setTimeout(120000);

let probe: any;

beforeAll(() => {
  const script = path.join(__dirname, 'fixtures', 'generatorPartsProbe.mjs');
  probe = JSON.parse(execFileSync(process.execPath, [script, ROOT, FIXTURE], { encoding: 'utf8' }).trim().split('\n').pop()!);
});

describe('the sequence pool', () => {
  it('gives a burst of first requests one context and as many sequences as there are, refusing the rest', () => {
    const pool = probe.sequencePool;
    expect(pool.burst).toEqual(['sequence', 'sequence', 'too_many_episodes']);
    expect(pool.contextsCreated).toBe(1);
    expect(pool.contextsSeen).toEqual([256]);
    expect(pool.sequencesAligned).toBe(2);
    expect(pool.slotsAfterBurst).toBe(2);
    expect(pool.refusedHoldsSlot).toBe(false);
  });

  it('hands the least recently used idle sequence to a newcomer, with its tokens, and no slot changes', () => {
    expect(probe.sequencePool.eviction).toEqual({
      sameSequence: true,
      tokensKept: true,
      evictedHasSequence: false,
      evictedHasSlot: false,
      slots: 2,
      contextsCreated: 1
    });
  });

  it('frees the slot of a released episode and forgets one-off episodes', () => {
    expect(probe.sequencePool.release).toEqual({ slotsWithOneOff: 2, slotsAfter: 1, oneOffKept: false, namedKept: true });
  });

  it('keeps at most its bound of records without a slot, forgetting the least recently used', () => {
    const { records } = probe.sequencePool;
    expect(records.idle).toBe(records.bound);
    expect(records.size).toBe(records.bound + 1);
    expect(records.newestKept).toBe(true);
    expect(records.withSlotKept).toBe(true);
    expect(probe.sequencePool.afterDispose.size).toBe(0);
  });
});

describe('the chat prompt', () => {
  it("renders messages with the model's template, ending with an open assistant turn", () => {
    const chat = probe.chatPrompt;
    expect(chat.wrapper).toBe('ChatML');
    expect(chat.containsMessages).toBe(true);
    expect(chat.text.endsWith('<|im_start|>assistant\n')).toBe(true);
    // A last assistant message is continued, not closed.
    expect(chat.continuedEnd).toBe('The mean is');
  });

  it('tokenizes without the BOS that the completion puts in front, and adds it back as the sequence holds it', () => {
    expect(probe.chatPrompt.leadingBos).toBe(false);
    expect(probe.chatPrompt.heldAddsBos).toBe(true);
  });

  it('finds the system prompt that prompts of one profile share', () => {
    const chat = probe.chatPrompt;
    expect(chat.systemShared).toBeGreaterThan(0);
    expect(chat.systemShared).toBeLessThanOrEqual(chat.systemLength);
    expect(chat.sharedWithOther).toBeGreaterThanOrEqual(chat.systemShared);
    expect(chat.noSystem).toBeNull();
  });

  it('reads the exact tokens of a generation back from the sequence, and the next prompt contains them', () => {
    const chat = probe.chatPrompt;
    expect(chat.generated.length).toBeGreaterThan(0);
    expect(chat.rememberedSpells).toBe(chat.generated);
    expect(chat.containsExact).toBe(true);
  });

  it('remembers only tokens that spell the text, and at most its bound of texts, the oldest going first', () => {
    const chat = probe.chatPrompt;
    expect(chat.refusedSize).toBe(0);
    expect(chat.bounded).toEqual({ size: chat.bounded.bound, bound: 256, oldestKept: false, newestKept: true });
  });

  it('refuses a prompt longer than the context could hold in any tokenization, before tokenizing', () => {
    expect(probe.chatPrompt.tooLong).toEqual({
      code: 'prompt_too_long',
      message: 'the prompt is 4097 characters; a context of 256 tokens takes at most 4096. Shorten it or load the model with a larger context'
    });
    expect(probe.chatPrompt.longEnough).toBeNull();
  });
});

describe('the grammar cache', () => {
  it('parses a grammar once and reuses it', () => {
    expect(probe.grammarCache.reused).toBe(true);
    expect(probe.grammarCache.sizeAfterOne).toBe(1);
  });

  it('refuses a grammar llama.cpp cannot parse, and one past the limits before llama.cpp sees it, keeping neither', () => {
    const cache = probe.grammarCache;
    expect(cache.invalid).toEqual({ code: 'invalid_grammar', message: expect.stringMatching(/^the grammar could not be parsed: /) });
    expect(cache.tooDeep).toEqual({ code: 'invalid_grammar', message: expect.stringMatching(/^the grammar is too complex: .*nested 200 deep/) });
    expect(cache.sizeAfterRefusals).toBe(1);
  });

  it('keeps at most its bound of grammars, dropping the oldest', () => {
    expect(probe.grammarCache.bounded).toEqual({ size: 32, bound: 32, firstParsedAgain: true });
    expect(probe.grammarCache.afterClear).toBe(0);
  });
});
