import type { ModelManifest } from '../../src/contract';
import { chooseContextSize, ggufFacts, kvBytesPerToken, matchManifest, parseSizeLabel, settingsFromManifest, settingsFromMetadata, UNKNOWN_MODEL_CONTEXT } from '../../src/host/models/modelSettings';

const manifest = (over: Partial<ModelManifest>): ModelManifest => ({
  name: 'qwen2.5-coder-1.5b',
  displayName: 'Qwen2.5 Coder 1.5B',
  role: 'starter',
  file: 'qwen2.5-coder-1.5b-instruct-q4_k_m.gguf',
  sizeBytes: 1117320768,
  sha256: 'cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046',
  source: { kind: 'pypi' },
  contextSize: 8192,
  sampling: { temperature: 0.2, topP: 0.8, topK: 20, maxTokens: 1024 },
  stopStrings: ['</step>'],
  promptProfile: 'compact',
  ...over
});

const tiny = manifest({ name: 'datarus-test-tiny', file: 'datarus-test-tiny.gguf', sizeBytes: undefined, sha256: undefined, promptProfile: undefined, contextSize: 8192 });
const starter = manifest({});
const noHash = () => Promise.reject(new Error('must not hash'));

describe('a GGUF given by path is matched to its manifest', () => {
  it('by file name and size, without reading the file', async () => {
    const match = await matchManifest([tiny, starter], { name: starter.file, sizeBytes: starter.sizeBytes! }, noHash);
    expect(match).toEqual({ manifest: starter, how: 'file name and size' });
    const settings = settingsFromManifest(match!);
    expect(settings).toMatchObject({ promptProfile: 'compact', contextSize: 8192, sampling: starter.sampling });
    expect(settings.origin).toEqual({ source: 'manifest', manifest: 'qwen2.5-coder-1.5b', reason: 'manifest qwen2.5-coder-1.5b (file name and size match)' });
  });

  it('by file name alone when the manifest gives no size; the profile defaults to generic', async () => {
    const match = await matchManifest([tiny, starter], { name: 'datarus-test-tiny.gguf', sizeBytes: 123 }, noHash);
    expect(match?.how).toBe('file name');
    expect(settingsFromManifest(match!).promptProfile).toBe('generic');
  });

  it('a renamed copy by size and sha256', async () => {
    let hashed = 0;
    const sha = async () => {
      hashed++;
      return starter.sha256!;
    };
    const match = await matchManifest([tiny, starter], { name: 'my-model.gguf', sizeBytes: starter.sizeBytes! }, sha);
    expect(match).toEqual({ manifest: starter, how: 'size and sha256' });
    expect(hashed).toBe(1);
  });

  it('nothing for a same-named file of another size, or a same-sized file with another hash', async () => {
    expect(await matchManifest([starter], { name: starter.file, sizeBytes: 5 }, noHash)).toBeNull();
    expect(await matchManifest([starter], { name: 'other.gguf', sizeBytes: starter.sizeBytes! }, async () => '00'.repeat(32))).toBeNull();
    expect(await matchManifest([starter], { name: 'other.gguf', sizeBytes: 7 }, noHash)).toBeNull();
  });
});

describe('a file no manifest describes gets settings from its GGUF metadata', () => {
  const metadata = (general: object, extra: object = {}) => ({ general, tokenizer: { chat_template: '{% for m in messages %}…' }, ...extra });

  it('reads architecture, name, size label, chat template, trained context and general.sampling', () => {
    const facts = ggufFacts(metadata({ architecture: 'qwen2', name: 'Qwen2.5 7B Instruct', size_label: '7.6B', sampling: { temp: 0.7, top_p: 0.8, top_k: 20 } }, { qwen2: { context_length: 32768 } }), 4096, 4.7e9);
    expect(facts).toEqual({
      architecture: 'qwen2',
      name: 'Qwen2.5 7B Instruct',
      sizeLabel: '7.6B',
      hasChatTemplate: true,
      trainContextSize: 32768,
      fileSizeBytes: 4.7e9,
      sampling: { temperature: 0.7, topP: 0.8, topK: 20 }
    });
    const settings = settingsFromMetadata(facts);
    expect(settings).toMatchObject({ promptProfile: 'generic', contextSize: UNKNOWN_MODEL_CONTEXT, sampling: { temperature: 0.7, topP: 0.8, topK: 20 } });
    expect(settings.origin.source).toBe('metadata');
    expect(settings.origin.reason).toBe(
      'no manifest describes this file; from its GGUF metadata (qwen2, Qwen2.5 7B Instruct): profile generic (7.6B parameters), context 8192 of 32768 trained, sampling from general.sampling, its own chat template'
    );
  });

  it('a small model gets the compact profile, by size label or else by file size', () => {
    const small = settingsFromMetadata(ggufFacts(metadata({ architecture: 'qwen2', name: 'Mine', size_label: '1.5B' }, { qwen2: { context_length: 32768 } }), 32768, 1.1e9));
    expect(small.promptProfile).toBe('compact');
    expect(small.sampling).toEqual({});
    const unlabelled = settingsFromMetadata(ggufFacts(metadata({ architecture: 'llama' }), 2048, 0.6e9));
    expect(unlabelled).toMatchObject({ promptProfile: 'compact', contextSize: 2048 });
    expect(unlabelled.origin.reason).toContain('0.6 GB: a small model');
    expect(settingsFromMetadata(ggufFacts(metadata({ architecture: 'llama' }), 8192, 9e9)).promptProfile).toBe('generic');
  });

  it('a Datarus model by its name gets the datarus-r1 profile', () => {
    const settings = settingsFromMetadata(ggufFacts(metadata({ architecture: 'qwen2', name: 'Datarus R1 14B Preview', size_label: '14B' }, { qwen2: { context_length: 32768 } }), 32768, 9e9));
    expect(settings.promptProfile).toBe('datarus-r1');
  });

  it('says when the file has no chat template', () => {
    const facts = ggufFacts({ general: { architecture: 'llama' } }, 4096, 1e6);
    expect(facts.hasChatTemplate).toBe(false);
    expect(settingsFromMetadata(facts).origin.reason).toContain('no chat template in the file');
  });

  it('parses size labels', () => {
    expect(parseSizeLabel('1.5B')).toBe(1.5e9);
    expect(parseSizeLabel('270M')).toBe(2.7e8);
    expect(parseSizeLabel('8x7B')).toBe(5.6e10);
    expect(parseSizeLabel('large')).toBeNull();
    expect(parseSizeLabel(null)).toBeNull();
  });
});

describe('the context size is chosen from the trained context and the memory free for the KV cache', () => {
  /** Qwen2.5-Coder-1.5B's shape as its GGUF states it. */
  const starterShape = { general: { architecture: 'qwen2' }, qwen2: { block_count: 28, embedding_length: 1536, context_length: 32768, attention: { head_count: 12, head_count_kv: 2 } } };
  const GiB = 1024 ** 3;

  it('reads the KV cache size a token takes from the GGUF shape (starter 28 KiB, the 14B shape 192 KiB)', () => {
    expect(kvBytesPerToken(starterShape)).toBe(28 * 1024);
    const shape14b = { general: { architecture: 'qwen2' }, qwen2: { block_count: 48, embedding_length: 5120, attention: { head_count: 40, head_count_kv: 8 } } };
    expect(kvBytesPerToken(shape14b)).toBe(192 * 1024);
    expect(kvBytesPerToken({ general: { architecture: 'llama' } })).toBeNull();
  });

  it('takes the trained context when memory holds it, the manifest being a ceiling', () => {
    const facts = { trainContextSize: 32768, ceiling: 32768, kvBytesPerToken: 28 * 1024, slots: 4, freeBytes: 16 * GiB, memory: 'RAM' };
    expect(chooseContextSize(facts)).toEqual({
      contextSize: 32768,
      reason: 'context 32768 chosen: the trained context; KV cache 4 × 32768 tokens × 28 KiB = 3.5 GiB of 16.0 GiB RAM free'
    });
    expect(chooseContextSize({ ...facts, ceiling: 16384 })).toMatchObject({ contextSize: 16384, reason: expect.stringContaining('the ceiling 16384 below the trained 32768') });
  });

  it('chooses less when half the free memory cannot hold the KV cache of every slot, never below 2,048', () => {
    const facts = { trainContextSize: 32768, ceiling: 32768, kvBytesPerToken: 192 * 1024, slots: 4, freeBytes: 8 * GiB, memory: 'VRAM' };
    // Half of 8 GiB over 4 slots × 192 KiB: 5,461 tokens, rounded down to 5,120.
    const chosen = chooseContextSize(facts);
    expect(chosen.contextSize).toBe(5120);
    expect(chosen.reason).toMatch(/^context 5120 chosen: what half of the 8\.0 GiB VRAM free holds \(below 32768\); KV cache 4 × 5120 tokens × 192 KiB = 3\.8 GiB/);
    expect(chooseContextSize({ ...facts, freeBytes: 0.5 * GiB }).contextSize).toBe(2048);
  });

  it('a model whose trained context or shape is unknown gets 8,192 under its ceiling, and says so', () => {
    const chosen = chooseContextSize({ trainContextSize: 0, ceiling: 32768, kvBytesPerToken: null, slots: 4, freeBytes: 16 * GiB, memory: 'RAM' });
    expect(chosen).toEqual({ contextSize: UNKNOWN_MODEL_CONTEXT, reason: `context ${UNKNOWN_MODEL_CONTEXT} chosen: trained context unknown, ${UNKNOWN_MODEL_CONTEXT}; KV cache size unknown` });
  });
});
