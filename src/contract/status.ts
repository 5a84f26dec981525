/**
 * What the model host reports about itself (`GET /api/status`): the engine's
 * state, the backend it chose and why, the loaded model, and its threads.
 */

/** The compute backends node-llama-cpp runs on. */
export type Backend = 'cpu' | 'cuda' | 'vulkan' | 'metal';

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
  /** The prompt profile its manifest names (`generic` when it names none). */
  promptProfile: string;
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
