/**
 * What the model host reports about itself (`GET /api/status`): the engine's
 * state, the backend it chose and why, the loaded model, and its threads.
 */

/**
 * The compute backends node-llama-cpp runs on. `cuda12` is its CUDA backend built with CUDA 12,
 * for drivers older than the toolkit of its main CUDA binary.
 */
export type Backend = 'cpu' | 'cuda' | 'cuda12' | 'vulkan' | 'metal';

export type HostState = 'starting' | 'loading' | 'ready' | 'idle' | 'error';

/** One backend the host considered at start. */
export interface BackendReport {
  name: Backend;
  ok: boolean;
  /** Why it was rejected or skipped; null when it is the one in use. */
  reason: string | null;
  /** The verdict came from the cache: no self-test ran at this start. */
  cached: boolean;
}

export interface GpuInfo {
  name: string;
  vramFreeBytes: number;
  vramTotalBytes: number;
}

/** The loaded model; `totalLayers` with `gpuLayers` says how much of it fits in VRAM. */
export interface LoadedModelStatus {
  name: string;
  path: string;
  sizeBytes: number;
  trainContextSize: number;
  gpuLayers: number;
  totalLayers: number;
  /** The prompt profile its manifest names, or the one chosen from its GGUF metadata (see `settings`). */
  promptProfile: string;
  /** Where its profile, context and sampling came from, and why. */
  settings: ModelSettingsOrigin;
}

/** Where a loaded model's settings came from (src/host/models/modelSettings.ts). */
export interface ModelSettingsOrigin {
  /** `manifest`: a manifest named or matched the file; `metadata`: chosen from the GGUF's own metadata. */
  source: 'manifest' | 'metadata';
  /** The manifest whose settings are used, or null. */
  manifest: string | null;
  /** One line for the user: "manifest qwen2.5-coder-1.5b (file name and size match)". */
  reason: string;
  /** Settings the host was given that replace the chosen ones ("context size 4096"). */
  overridden: string[];
}

/** The generator's episodes and what it has evaluated so far. */
export interface EpisodeSlots {
  /** Episodes holding a context sequence now. */
  active: number;
  maxEpisodes: number;
  /** Episodes the host remembers, with or without a sequence. */
  episodes: number;
  generating: number;
  contextsCreated: number;
  evaluatedInputTokens: number;
  outputTokens: number;
  /** The saved prompt states, when the host keeps them. */
  promptCache: PromptCacheStats | null;
  /** How generating episodes share batches (see `DecodeStepsMode`). */
  decodeSteps: DecodeStepStatus;
}

/**
 * `together`: episodes generating at once ask for their next tokens at the same moment, so they
 * share a batch; `apart`: node-llama-cpp's batching alone (kept for measurements).
 */
export type DecodeStepsMode = 'together' | 'apart';

export interface DecodeStepStatus {
  mode: DecodeStepsMode;
  /** Steps the generating episodes took together, and the episodes in them summed (null when `apart`). */
  steps: number | null;
  sequences: number | null;
}

/** The host's saved prompt states (warm starts for new episodes, one prefill for a group of rollouts). */
export interface PromptCacheStats {
  entries: number;
  /** Prompt tokens the saved states hold. */
  tokens: number;
  bytes: number;
  saves: number;
  /** Prompt tokens whose state was saved. */
  savedTokens: number;
  loads: number;
  /** Prompt tokens that came from saved states instead of being evaluated. */
  loadedTokens: number;
  /** Requests that waited for another's prefill of the same prompt. */
  waits: number;
  saveMs: number;
  loadMs: number;
  /** Why states were or were not used: the host's own estimates and decisions. */
  policy: PromptCachePolicyStatus;
}

/** `auto`: save and load states when measured to pay off; `on`: always; `off`: no prompt cache. */
export type PromptCacheMode = 'auto' | 'on' | 'off';

/** Where the model runs, as far as the cost of prompt states goes. */
export type PromptCacheDevice = 'cpu' | 'gpu';

/** One save or load of a prompt state, timed. */
export interface StateOperation {
  kind: 'save' | 'load';
  tokens: number;
  ms: number;
  /** What the policy expected it to cost (the larger of its estimate and evaluating the same tokens). */
  expectedMs: number;
  /** Other loads or requests were using the context: its time is not judged (it waited for their batches). */
  contended: boolean;
}

/** The prompt-state policy's running estimates (milliseconds per token, null before measured) and decisions. */
export interface PromptCachePolicyStatus {
  mode: Exclude<PromptCacheMode, 'off'>;
  device: PromptCacheDevice;
  /** Evaluating; an evaluation that ran beside other work counts its share of the time. */
  prefillMsPerToken: number | null;
  /** Evaluations timed, and those of them that shared the context with other work. */
  evaluationsTimed: number;
  evaluationsContended: number;
  saveMsPerToken: number | null;
  loadMsPerToken: number | null;
  /** Saves and loads the policy declined (the tokens were evaluated instead). */
  savesSkipped: number;
  loadsSkipped: number;
  /** Why saving (or loading) was stopped for this host after one far too slow operation; null while allowed. */
  savesDisabled: string | null;
  loadsDisabled: string | null;
  /** The latest operations, newest first. */
  recent: StateOperation[];
}

export interface ThreadMeasurement {
  threads: number;
  tokensPerSecond: number;
}

/** A manifest file that could not be read, and why. */
export interface ManifestProblem {
  file: string;
  message: string;
}

/** The engine's part of the status. */
export interface EngineStatus {
  state: HostState;
  error: string | null;
  backend: Backend | null;
  backendNote: string | null;
  /** Every backend considered at start, in order: the one in use has `ok: true`. */
  backends: BackendReport[];
  gpu: GpuInfo | null;
  model: LoadedModelStatus | null;
  loadProgress: number;
  contextSize: number | null;
  chatWrapper: string | null;
  episodes: EpisodeSlots | null;
  threads: number;
  /** `measured` (fastest of 1..cores at load), `option` (given), or `default` (half the cores). */
  threadsChosenBy: 'measured' | 'option' | 'default';
  threadMeasurements: ThreadMeasurement[];
  cores: number;
  manifests: string[];
  manifestProblems: ManifestProblem[];
}

/** `GET /api/status`: the engine's status and the host process's own facts. */
export interface HostStatus extends EngineStatus {
  version: string;
  pid: number;
  uptimeSeconds: number;
}
