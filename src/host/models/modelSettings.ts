/**
 * The settings a model file brings: a GGUF given by path (DATARUS_MODEL, `--model`, the Models dialog)
 * is matched to its manifest by file name and size (sha256 for a renamed file), and gets the manifest's
 * profile, context and sampling, as if it had been named. A file no manifest describes gets settings
 * chosen from its own GGUF metadata. Either way the host says which and why (`ModelSettingsOrigin`).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

import type { ModelManifest, ModelSettingsOrigin } from '../../contract';
import { COMPACT_PROFILE, DATARUS_R1_PROFILE, GENERIC_PROFILE } from '../../protocol/profiles';

export interface ModelFile {
  /** The file's name (not its path): what a manifest's `file` names. */
  name: string;
  sizeBytes: number;
}

export interface ManifestMatch {
  manifest: ModelManifest;
  /** How it matched, for the reason shown to the user. */
  how: string;
}

/**
 * The manifest that describes this file, or null. A manifest matches by its file name when the size it
 * gives (if any) is the file's; a file of another name matches when its size and sha256 are the
 * manifest's (hashed only then: reading a large GGUF takes seconds). A same-named file of another size
 * is a different file, and matches nothing.
 */
export async function matchManifest(
  manifests: Iterable<ModelManifest>,
  file: ModelFile,
  sha256: () => Promise<string>
): Promise<ManifestMatch | null> {
  const all = [...manifests];
  const byName = all.find(m => m.file === file.name);
  if (byName && (byName.sizeBytes === undefined || byName.sizeBytes === file.sizeBytes)) {
    return { manifest: byName, how: byName.sizeBytes === undefined ? 'file name' : 'file name and size' };
  }
  const bySize = all.filter(m => m.sizeBytes === file.sizeBytes && m.sha256);
  if (bySize.length > 0) {
    const digest = await sha256();
    const byHash = bySize.find(m => m.sha256!.toLowerCase() === digest);
    if (byHash) {
      return { manifest: byHash, how: 'size and sha256' };
    }
  }
  return null;
}

export function fileSha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', chunk => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** What a GGUF says about itself (from its metadata) that settings are chosen from. */
export interface GgufFacts {
  architecture: string | null;
  name: string | null;
  /** `general.size_label` ("1.5B"), else null. */
  sizeLabel: string | null;
  hasChatTemplate: boolean;
  /** `<architecture>.context_length`. */
  trainContextSize: number;
  fileSizeBytes: number;
  /** `general.sampling.*`, which newer converters write from the model's generation config. */
  sampling: ModelManifest['sampling'];
}

/** The same context the small models' manifests use: room for a 30-step episode, a KV cache a laptop holds. */
export const UNKNOWN_MODEL_CONTEXT = 8192;
/** Below this many parameters a model gets the compact profile (a worked example rather than a description of the tags). */
const COMPACT_BELOW_PARAMETERS = 4e9;
/** Without a size label: about the size of a 4B model at 4-5 bits per weight. */
const COMPACT_BELOW_BYTES = 2.5e9;

export interface ChosenSettings {
  promptProfile: string;
  contextSize: number;
  sampling: ModelManifest['sampling'];
  origin: Omit<ModelSettingsOrigin, 'overridden'>;
}

/** Settings for a file no manifest describes, chosen from its metadata. */
export function settingsFromMetadata(facts: GgufFacts): ChosenSettings {
  const parameters = parseSizeLabel(facts.sizeLabel);
  const label = facts.name ?? 'the model';
  let promptProfile: string;
  let why: string;
  if (/datarus/i.test(facts.name ?? '')) {
    promptProfile = DATARUS_R1_PROFILE.name;
    why = `its name "${label}" is a Datarus model's`;
  } else if (parameters !== null ? parameters < COMPACT_BELOW_PARAMETERS : facts.fileSizeBytes < COMPACT_BELOW_BYTES) {
    promptProfile = COMPACT_PROFILE.name;
    why = parameters !== null ? `${facts.sizeLabel} parameters: a small model` : `${(facts.fileSizeBytes / 1e9).toFixed(1)} GB: a small model`;
  } else {
    promptProfile = GENERIC_PROFILE.name;
    why = parameters !== null ? `${facts.sizeLabel} parameters` : `${(facts.fileSizeBytes / 1e9).toFixed(1)} GB`;
  }
  const contextSize = Math.min(facts.trainContextSize || UNKNOWN_MODEL_CONTEXT, UNKNOWN_MODEL_CONTEXT);
  const template = facts.hasChatTemplate ? 'its own chat template' : 'no chat template in the file (a default one is used)';
  const sampling = facts.sampling;
  const samplingNote = Object.keys(sampling).length > 0 ? 'sampling from general.sampling' : 'default sampling';
  return {
    promptProfile,
    contextSize,
    sampling,
    origin: {
      source: 'metadata',
      manifest: null,
      reason:
        `no manifest describes this file; from its GGUF metadata (${[facts.architecture, facts.name].filter(Boolean).join(', ') || 'no name'}): ` +
        `profile ${promptProfile} (${why}), context ${contextSize} of ${facts.trainContextSize} trained, ${samplingNote}, ${template}`
    }
  };
}

/** Settings from a matched manifest. */
export function settingsFromManifest(match: ManifestMatch): ChosenSettings {
  const m = match.manifest;
  return {
    promptProfile: m.promptProfile ?? GENERIC_PROFILE.name,
    contextSize: m.contextSize,
    sampling: m.sampling,
    origin: { source: 'manifest', manifest: m.name, reason: `manifest ${m.name} (${match.how} match)` }
  };
}

/** The facts settings are chosen from, read out of node-llama-cpp's parsed metadata. */
export function ggufFacts(metadata: unknown, trainContextSize: number, fileSizeBytes: number): GgufFacts {
  const meta = (metadata ?? {}) as Record<string, any>;
  const general = (meta.general ?? {}) as Record<string, any>;
  const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const s = (general.sampling ?? {}) as Record<string, unknown>;
  const sampling: ModelManifest['sampling'] = {};
  const temperature = num(s.temp);
  const topP = num(s.top_p);
  const topK = num(s.top_k);
  if (temperature !== undefined) sampling.temperature = temperature;
  if (topP !== undefined) sampling.topP = topP;
  if (topK !== undefined) sampling.topK = topK;
  const architecture = text(general.architecture);
  return {
    architecture,
    name: text(general.name),
    sizeLabel: text(general.size_label),
    hasChatTemplate: text(meta.tokenizer?.chat_template) !== null,
    trainContextSize: num(architecture ? meta[architecture]?.context_length : undefined) ?? trainContextSize,
    fileSizeBytes,
    sampling
  };
}

/** "1.5B" → 1.5e9, "270M" → 2.7e8, "8x7B" → 5.6e10; null when it is not a size. */
export function parseSizeLabel(label: string | null): number | null {
  const m = /^(?:(\d+)x)?(\d+(?:\.\d+)?)([KMBT])$/i.exec(label?.trim() ?? '');
  if (!m) {
    return null;
  }
  const scale = { K: 1e3, M: 1e6, B: 1e9, T: 1e12 }[m[3].toUpperCase() as 'K' | 'M' | 'B' | 'T'];
  return (m[1] ? Number(m[1]) : 1) * Number(m[2]) * scale;
}

/** One line for the terminal: which settings and why. */
export function describeSettings(s: { promptProfile: string; contextSize: number | null; settings: ModelSettingsOrigin }): string {
  const overridden = s.settings.overridden.length > 0 ? `; given on the command line: ${s.settings.overridden.join(', ')}` : '';
  return `model settings: profile ${s.promptProfile}, context ${s.contextSize ?? '?'} tokens — ${s.settings.reason}${overridden}`;
}

/**
 * KV cache bytes one token takes (keys and values of every layer, f16), from
 * the GGUF's shape; null when the metadata lacks it. Qwen2.5-1.5B: 28 KiB;
 * the 14B shape: 192 KiB.
 */
export function kvBytesPerToken(metadata: unknown): number | null {
  const meta = (metadata ?? {}) as Record<string, any>;
  const arch = meta.general?.architecture;
  const shape = typeof arch === 'string' ? (meta[arch] as Record<string, any> | undefined) : undefined;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null);
  const layers = n(shape?.block_count);
  const heads = n(shape?.attention?.head_count);
  const embedding = n(shape?.embedding_length);
  if (!layers || !heads || !embedding) {
    return null;
  }
  const kvHeads = n(shape?.attention?.head_count_kv) ?? heads;
  const keyLength = n(shape?.attention?.key_length) ?? embedding / heads;
  const valueLength = n(shape?.attention?.value_length) ?? keyLength;
  return layers * kvHeads * (keyLength + valueLength) * 2;
}

/** At most this share of the free memory goes to the KV cache: the model's compute buffers and the kernel need the rest. */
export const KV_MEMORY_SHARE = 0.5;
/** The smallest context chosen for memory: below it no episode of a few steps fits. */
export const MIN_CHOSEN_CONTEXT = 2048;

export interface ContextFacts {
  /** The model's trained context; null or 0 when unknown. */
  trainContextSize: number | null;
  /** The manifest's `contextSize` (or the metadata's choice): a ceiling. */
  ceiling: number;
  /** KV cache bytes a token takes (kvBytesPerToken); null when unknown. */
  kvBytesPerToken: number | null;
  /** Sequences of the context (episodes at once): each has the whole context size. */
  slots: number;
  /** Memory free for the KV cache (VRAM when the model is on a GPU, else RAM); null when unknown. */
  freeBytes: number | null;
  /** Where `freeBytes` is, for the reason ("RAM", "VRAM"). */
  memory: string;
}

const GIB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;

/**
 * The context size for a model: its trained context, no more than the
 * ceiling, and no more than half the free memory holds as KV cache for every
 * slot (rounded down to a multiple of 1,024, at least 2,048). The reason says
 * which bound decided.
 */
export function chooseContextSize(f: ContextFacts): { contextSize: number; reason: string } {
  const trained = f.trainContextSize && f.trainContextSize > 0 ? f.trainContextSize : null;
  let contextSize = Math.min(trained ?? UNKNOWN_MODEL_CONTEXT, f.ceiling);
  let why =
    trained === null
      ? `trained context unknown, ${contextSize}`
      : contextSize < trained
        ? `the ceiling ${f.ceiling} below the trained ${trained}`
        : `the trained context${f.ceiling > trained ? ` (ceiling ${f.ceiling})` : ''}`;
  if (f.kvBytesPerToken !== null && f.freeBytes !== null) {
    const perToken = f.kvBytesPerToken * Math.max(1, f.slots);
    const fits = Math.max(MIN_CHOSEN_CONTEXT, Math.floor((f.freeBytes * KV_MEMORY_SHARE) / perToken / 1024) * 1024);
    if (fits < contextSize) {
      contextSize = fits;
      why = `what half of the ${gib(f.freeBytes)} ${f.memory} free holds (below ${trained ?? 'the ceiling'})`;
    }
    why += `; KV cache ${f.slots} × ${contextSize} tokens × ${Math.round(f.kvBytesPerToken / 1024)} KiB = ${gib(perToken * contextSize)} of ${gib(f.freeBytes)} ${f.memory} free`;
  } else {
    why += f.kvBytesPerToken === null ? '; KV cache size unknown' : `; free ${f.memory} unknown`;
  }
  return { contextSize, reason: `context ${contextSize} chosen: ${why}` };
}
