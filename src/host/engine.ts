/**
 * The model engine: node-llama-cpp's Llama (the compute backend) and the one
 * loaded model, with the facts the status endpoint reports.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Llama, LlamaModel } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import type { Backend, BackendReport, DecodeStepsMode, EngineStatus, HostState, LoadedModelStatus, ManifestProblem, ModelManifest, PromptCacheMode, ThreadMeasurement } from '../contract';
import { describeSelection, GpuOptionError, parseGpuChoice, selectBackend, startLlama } from './backend/backends';
import { findCuda12Binaries } from './backend/cuda12';
import { Generator } from './generation/generator';
import { DomainError } from './errors';
import { calibrateThreads, fallbackThreads } from './backend/threads';
import { loadManifests, ManifestError, resolveInside, resolveUserPath } from './models/manifests';
import { ChosenSettings, chooseContextSize, fileSha256, ggufFacts, kvBytesPerToken, matchManifest, settingsFromManifest, settingsFromMetadata } from './models/modelSettings';
import { runSelfTest, SelfTestResult } from './backend/selftest';
import { defaultCacheDir, driverVersion, VERDICT_FILE_NAME, VerdictCache } from './backend/verdicts';

export type { Backend, EngineStatus } from '../contract';

export interface EngineOptions {
  manifestsDir: string;
  modelsDir: string;
  /**
   * Manifest name or GGUF path to load at start; none loads nothing. This is the
   * user's own choice (command line, config), so the path may be anywhere.
   */
  model?: string;
  /**
   * `auto` tries CUDA → CUDA 12 → Vulkan → CPU (Metal → CPU on macOS), each GPU backend proven by a
   * self-test first; a backend name or a comma-separated list tries only those.
   */
  gpu?: string;
  /** Layers to offload to the GPU; `auto` fits as many as the free VRAM allows. */
  gpuLayers?: number | 'auto';
  /** Where self-test verdicts are cached (default: the user's cache folder). */
  verdictCacheFile?: string;
  selfTestTimeoutMs?: number;
  /**
   * What the host finds out about backends before loading one: which are present, and the self-test that
   * proves one (default: node-llama-cpp's supported GPU types, and a self-test child per backend).
   */
  backendProbe?: BackendProbe;
  /** Told the backend as soon as it is chosen, before the model loads. */
  onBackendChosen?: (backend: Backend) => void;
  threads?: number;
  contextSize?: number;
  /** Episodes that can hold a context sequence at once. */
  maxEpisodes?: number;
  /**
   * Start new episodes from saved states of the prompt prefixes they share:
   * `auto` (default, or true) where measured to pay off on this host, `on`, `off` (or false).
   */
  promptCache?: boolean | PromptCacheMode;
  /**
   * Flash attention: `auto` (default) lets llama.cpp use it where the backend runs it;
   * forcing it on can move attention to the CPU on a backend without the kernel
   * (measured on Vulkan, H100: 4,000-token prefill 182 tokens/s forced on).
   */
  flashAttention?: FlashAttention;
  /** Whether generating episodes take their decode steps together (default `together`, see decodeSteps.ts). */
  decodeSteps?: DecodeStepsMode;
}

export type FlashAttention = 'auto' | boolean;

/** The backends present on this machine, and the self-test that proves one in a child process. */
export interface BackendProbe {
  available?: ReadonlySet<Backend>;
  selfTest?: (backend: Backend) => Promise<SelfTestResult>;
}

/** The loaded model as the engine keeps it: what the status reports, and the manifest whose settings it has. */
export interface LoadedModelInfo extends Omit<LoadedModelStatus, 'totalLayers'> {
  manifest: ModelManifest | null;
}

const DEFAULT_MAX_EPISODES = 4;

/** A model that could not be loaded: missing, not GGUF, truncated, or refused by llama.cpp. */
export class ModelLoadError extends DomainError {
  name = 'ModelLoadError';
  constructor(message: string) {
    super('model_load_failed', message);
  }
}

export class Engine {
  constructor(options: EngineOptions) {
    this._options = options;
    this._threads = options.threads ?? fallbackThreads();
    this._threadsChosenBy = options.threads ? 'option' : 'default';
  }

  /** Starts the backend and, if asked, loads the model; resolves when done or failed. */
  async start(): Promise<void> {
    try {
      const { manifests, problems } = await loadManifests(this._options.manifestsDir);
      this._manifests = manifests;
      this._manifestProblems = problems;
      const selection = await this._selectBackend();
      this._backendReports = selection.reports;
      if (!selection.llama) {
        // The host stays up with the reason in its status: an explicit choice never falls back silently.
        this._state = 'error';
        this._error = selection.error;
        return;
      }
      this._llama = selection.llama;
      this._backend = selection.backend;
      this._state = 'idle';
    } catch (err) {
      this._fail(err);
      return;
    }
    if (this._options.model) {
      // A model that fails to load leaves the host up and idle, its error in the status.
      await this.load(this._options.model, undefined, { anywhere: true }).catch(() => undefined);
      // A decode that fails without killing the process is reported by the first real generation.
      await this._firstDecode().catch(() => undefined);
    }
  }

  /** The backend in use, or null before one is chosen. */
  get backend(): Backend | null {
    return this._llama ? this._backend : null;
  }

  private async _selectBackend() {
    const lib = await import('node-llama-cpp');
    const choice = parseGpuChoice(this._options.gpu ?? 'auto');
    const nodeLlamaCppVersion = await lib.getModuleVersion();
    const probe = this._options.backendProbe ?? {};
    const unavailable = new Map<Backend, string>();
    let available = probe.available;
    if (!available) {
      const supported = new Set<Backend>((await lib.getLlamaGpuTypes('supported')).filter(type => type !== false) as Backend[]);
      // The CUDA 12 build needs what the CUDA one needs (a driver, CUDA libraries), and its own package.
      if (supported.has('cuda') && choice.chain.includes('cuda12')) {
        const binaries = await findCuda12Binaries(nodeLlamaCppVersion);
        if ('missing' in binaries) {
          unavailable.set('cuda12', binaries.missing);
        } else {
          supported.add('cuda12');
        }
      }
      available = supported;
    }
    return selectBackend(choice, {
      start: backend => startLlama(lib, backend),
      cache: new VerdictCache(this._options.verdictCacheFile ?? path.join(defaultCacheDir(), VERDICT_FILE_NAME)),
      nodeLlamaCppVersion,
      driver: await driverVersion(),
      available,
      unavailable,
      selfTest: probe.selfTest ?? (backend => runSelfTest(backend, { timeoutMs: this._options.selfTestTimeoutMs })),
      onChosen: this._options.onBackendChosen
    });
  }

  /**
   * Decodes a few tokens of the start-up model on the GPU before the host says it is ready:
   * a backend that aborts at its first decode then dies while the server still counts it as
   * starting, so it is not restarted on the same backend. (On the CPU, thread calibration
   * has already decoded.)
   */
  private async _firstDecode(): Promise<void> {
    const model = this._model;
    if (!model || model.gpuLayers === 0) {
      return;
    }
    const context = await model.createContext({ contextSize: 256, threads: this._threads }).catch(() => null);
    if (!context) {
      return; // not enough memory for a second context: generation will say so itself
    }
    try {
      let decoded = 0;
      for await (const _token of context.getSequence().evaluate(model.tokenize('Hello'), { temperature: 0 })) {
        if (++decoded >= 2) {
          break;
        }
      }
    } finally {
      await context.dispose();
    }
  }

  /**
   * Loads a model by manifest name or by path inside the models folder, replacing
   * the current one. With `anywhere` (the user's own choice at start, never a
   * request) a path outside the models folder loads too.
   */
  async load(nameOrPath: string, contextSize?: number, { anywhere = false }: { anywhere?: boolean } = {}): Promise<LoadedModelInfo> {
    if (!this._llama) {
      throw new ModelLoadError('the backend is not started');
    }
    if (this._state === 'loading') {
      throw new ModelLoadError('a model is already loading');
    }
    // Replacing the model disposes the context every episode generates in: refuse rather than cut them off.
    const generating = this._generator?.generating ?? 0;
    if (generating > 0) {
      throw new DomainError(
        'episodes_generating',
        `${generating} generation(s) are running on the loaded model; wait for them to finish or cancel them, then load again`
      );
    }
    const manifest = this._manifests.get(nameOrPath) ?? null;
    const requested = manifest ? manifest.file : nameOrPath;
    if (!manifest && !requested.endsWith('.gguf')) {
      throw new ManifestError(
        `unknown model "${nameOrPath}": not a manifest name (${[...this._manifests.keys()].join(', ')}) nor a .gguf file`
      );
    }
    this._state = 'loading';
    this._loadProgress = 0;
    this._error = null;
    // No generation may start on the current model while its replacement loads.
    const previous = this._generator;
    previous?.hold('another model is loading');
    try {
      const resolve = !manifest && anywhere ? resolveUserPath : resolveInside;
      const modelPath = await resolve(this._options.modelsDir, requested).catch(err => {
        if (manifest) {
          throw new ModelLoadError(
            `model "${manifest.name}" is not downloaded: ${manifest.file} is missing from ${this._options.modelsDir}` +
              (manifest.source.kind === 'generated' ? ` (run ${manifest.source.script})` : '')
          );
        }
        throw err;
      });
      const stat = await fs.stat(modelPath);
      await checkGgufHeader(modelPath, stat.size);
      // A file given by path gets its manifest's settings when one describes it.
      const match = manifest
        ? { manifest, how: 'name' }
        : await matchManifest(this._manifests.values(), { name: path.basename(modelPath), sizeBytes: stat.size }, () => fileSha256(modelPath));
      // The current model stays loaded until the new one is: a bad file never leaves the host without a model.
      const model = await this._llama.loadModel({
        modelPath,
        gpuLayers: this._options.gpuLayers ?? 'auto',
        defaultContextFlashAttention: this._options.flashAttention ?? 'auto',
        onLoadProgress: progress => {
          this._loadProgress = progress;
        }
      });
      await this._unload();
      this._model = model;
      const chosen: ChosenSettings = match
        ? settingsFromManifest(match)
        : settingsFromMetadata(ggufFacts(model.fileInfo.metadata, model.trainContextSize, stat.size));
      const givenContext = contextSize ?? this._options.contextSize;
      // The settings' context is a ceiling: the trained context and the memory free for the KV cache choose below it.
      const onGpu = model.gpuLayers > 0;
      const free = onGpu ? await this._llama.getVramState().then(v => v.free, () => null) : os.freemem();
      const context = chooseContextSize({
        trainContextSize: model.trainContextSize,
        ceiling: chosen.contextSize,
        kvBytesPerToken: kvBytesPerToken(model.fileInfo.metadata),
        slots: this._options.maxEpisodes ?? DEFAULT_MAX_EPISODES,
        freeBytes: free,
        memory: onGpu ? 'VRAM' : 'RAM'
      });
      this._contextSize = givenContext ? Math.min(givenContext, model.trainContextSize || givenContext) : context.contextSize;
      const lib = await import('node-llama-cpp');
      if (!this._options.threads && model.gpuLayers === 0) {
        // On the CPU the thread count decides the speed: measure, do not guess.
        const { best, measurements } = await calibrateThreads(lib, model);
        this._threads = best;
        this._threadsChosenBy = 'measured';
        this._threadMeasurements = measurements;
      }
      this._generator = new Generator(lib, this._llama, model, {
        contextSize: this._contextSize,
        threads: this._threads,
        maxEpisodes: this._options.maxEpisodes ?? DEFAULT_MAX_EPISODES,
        promptCache: this._options.promptCache,
        flashAttention: this._options.flashAttention ?? 'auto',
        decodeSteps: this._options.decodeSteps,
        defaults: chosen.sampling
      });
      this._loaded = {
        name: manifest?.name ?? path.basename(modelPath),
        path: modelPath,
        sizeBytes: stat.size,
        manifest: match?.manifest ?? null,
        trainContextSize: model.trainContextSize,
        gpuLayers: model.gpuLayers,
        promptProfile: chosen.promptProfile,
        settings: {
          ...chosen.origin,
          reason: givenContext ? chosen.origin.reason : `${chosen.origin.reason}; ${context.reason}`,
          overridden: givenContext ? [`context size ${givenContext}`] : []
        }
      };
      this._loadProgress = 1;
      this._state = 'ready';
      return this._loaded;
    } catch (err) {
      previous?.resume();
      this._state = this._model ? 'ready' : 'idle';
      this._error = describeLoadError(err);
      throw err instanceof ManifestError || err instanceof ModelLoadError ? err : new ModelLoadError(this._error);
    }
  }

  async status(): Promise<EngineStatus> {
    const llama = this._llama;
    let gpu: EngineStatus['gpu'] = null;
    if (llama && llama.gpu !== false) {
      const [names, vram] = await Promise.all([llama.getGpuDeviceNames(), llama.getVramState()]);
      gpu = { name: names.join(', '), vramFreeBytes: vram.free, vramTotalBytes: vram.total };
    }
    const loaded = this._loaded;
    return {
      state: this._state,
      error: this._error,
      backend: this.backend,
      backendNote: describeSelection(this._backendReports) ?? (this.backend === 'cpu' && this._backendReports.length > 1 ? 'no supported GPU found: running on the CPU' : null),
      backends: this._backendReports,
      gpu,
      model: loaded
        ? {
            name: loaded.name,
            path: loaded.path,
            sizeBytes: loaded.sizeBytes,
            trainContextSize: loaded.trainContextSize,
            gpuLayers: loaded.gpuLayers,
            totalLayers: this._model?.fileInsights.totalLayers ?? loaded.gpuLayers,
            promptProfile: loaded.promptProfile,
            settings: loaded.settings
          }
        : null,
      loadProgress: this._loadProgress,
      contextSize: loaded ? this._contextSize : null,
      chatWrapper: this._generator?.chatWrapperName ?? null,
      episodes: this._generator?.stats() ?? null,
      threads: this._threads,
      threadsChosenBy: this._threadsChosenBy,
      threadMeasurements: this._threadMeasurements,
      cores: os.availableParallelism(),
      manifests: [...this._manifests.keys()],
      manifestProblems: this._manifestProblems
    };
  }

  get modelsDir(): string {
    return this._options.modelsDir;
  }

  get manifests(): ReadonlyMap<string, ModelManifest> {
    return this._manifests;
  }

  get model(): LlamaModel | null {
    return this._model;
  }

  /** The generator of the loaded model; a clear error when none is loaded. */
  get generator(): Generator {
    if (!this._generator) {
      throw new DomainError(
        'no_model',
        this._state === 'loading' ? 'the model is still loading; try again in a moment' : 'no model is loaded; load one first (POST /api/models/load)'
      );
    }
    return this._generator;
  }

  get loaded(): LoadedModelInfo | null {
    return this._loaded;
  }

  get threads(): number {
    return this._threads;
  }

  get contextSize(): number {
    return this._contextSize;
  }

  async dispose(): Promise<void> {
    await this._unload();
    await this._llama?.dispose();
    this._llama = null;
  }

  private async _unload(): Promise<void> {
    const model = this._model;
    const generator = this._generator;
    this._model = null;
    this._loaded = null;
    this._generator = null;
    await generator?.dispose();
    await model?.dispose();
  }

  private _fail(err: unknown): void {
    this._state = 'error';
    this._error = err instanceof GpuOptionError ? err.message : describeLoadError(err);
  }

  private readonly _options: EngineOptions;
  private _threads: number;
  private _threadsChosenBy: EngineStatus['threadsChosenBy'];
  private _threadMeasurements: ThreadMeasurement[] = [];
  private _llama: Llama | null = null;
  private _backend: Backend | null = null;
  private _backendReports: BackendReport[] = [];
  private _model: LlamaModel | null = null;
  private _generator: Generator | null = null;
  private _loaded: LoadedModelInfo | null = null;
  private _manifests = new Map<string, ModelManifest>();
  private _manifestProblems: ManifestProblem[] = [];
  private _state: HostState = 'starting';
  private _error: string | null = null;
  private _loadProgress = 0;
  private _contextSize = 0;
}

/** Fails fast, with a clear message, on files that are not GGUF or are cut short. */
async function checkGgufHeader(modelPath: string, size: number): Promise<void> {
  const handle = await fs.open(modelPath, 'r');
  try {
    const header = Buffer.alloc(24);
    const { bytesRead } = await handle.read(header, 0, 24, 0);
    if (bytesRead < 24 || header.toString('latin1', 0, 4) !== 'GGUF') {
      throw new ModelLoadError(`${path.basename(modelPath)} is not a GGUF file (bad magic bytes); download it again`);
    }
    if (size < 1024) {
      throw new ModelLoadError(`${path.basename(modelPath)} is truncated (${size} bytes); download it again`);
    }
  } finally {
    await handle.close();
  }
}

function describeLoadError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ManifestError || err instanceof ModelLoadError) {
    return message;
  }
  return `the model could not be loaded: ${message}. The file may be corrupt or truncated; download it again.`;
}
