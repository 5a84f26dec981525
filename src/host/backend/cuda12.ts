/**
 * The CUDA 12 backend: node-llama-cpp's CUDA code built with CUDA 12.4, for an
 * NVIDIA driver older than the toolkit of its main CUDA binary.
 *
 * node-llama-cpp 3.21.1 ships its Linux x64 CUDA backend twice: in
 * `@node-llama-cpp/linux-x64-cuda`, built with CUDA 13 (sm_90 as PTX only), and
 * in `@node-llama-cpp/linux-x64-cuda-ext` as `fallback/libggml-cuda.so`, built
 * with CUDA 12.4. It loads the fallback only when the main library registers no
 * GPU (its CUDA 13 runtime libraries are missing, or the driver predates CUDA
 * 13). A driver that supports CUDA 13.0 loads the main library, which then
 * aborts the process at the first decode: it cannot JIT PTX from a newer 13.x
 * toolkit. So for the `cuda12` backend the host registers the fallback library
 * itself, before node-llama-cpp starts, through the main addon's own
 * `loadBackends`, from a private folder of links to that library and to the main
 * package's CPU libraries (llama.cpp needs a CPU backend beside the GPU one).
 * node-llama-cpp then finds a CUDA device registered and loads nothing more.
 *
 * The fallback needs the CUDA 12 runtime (libcudart.so.12, libcublas.so.12,
 * libcublasLt.so.12) on the library path; neither package carries it.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

/** The files the CUDA 12 backend is made of, in the installed node-llama-cpp packages. */
export interface Cuda12Binaries {
  /** The main CUDA package's addon: the one node-llama-cpp loads for `gpu: 'cuda'`. */
  addon: string;
  /** ggml's CUDA backend built with CUDA 12.4. */
  cudaLibrary: string;
  /** The main package's CPU backends, one per instruction set (ggml picks the best). */
  cpuLibraries: string[];
}

/** The packages are Linux x64 only (Windows has its own, not handled here). */
const PLATFORM = 'linux-x64';
const MAIN_PACKAGE = `@node-llama-cpp/${PLATFORM}-cuda`;
const EXT_PACKAGE = `@node-llama-cpp/${PLATFORM}-cuda-ext`;
const BINS_FOLDER = `${PLATFORM}-cuda`;

/** Where a prebuilt-binaries package keeps its files, if it is installed in the version node-llama-cpp expects. */
async function binsDir(name: string, version: string): Promise<string | null> {
  try {
    // A computed name: the packages are optional, untyped, and never bundled.
    const module = await import(name);
    const { binsDir: dir, packageVersion } = module.getBinsDir();
    return packageVersion === version ? dir : null;
  } catch {
    return null;
  }
}

/** The CUDA 12 backend's files, or why they are not there. */
export async function findCuda12Binaries(nodeLlamaCppVersion: string): Promise<Cuda12Binaries | { missing: string }> {
  if (`${process.platform}-${process.arch}` !== PLATFORM) {
    return { missing: `the CUDA 12 build of node-llama-cpp is used on Linux x64 only (this is ${process.platform}-${process.arch})` };
  }
  const [main, ext] = await Promise.all([binsDir(MAIN_PACKAGE, nodeLlamaCppVersion), binsDir(EXT_PACKAGE, nodeLlamaCppVersion)]);
  if (!main) {
    return { missing: `${MAIN_PACKAGE}@${nodeLlamaCppVersion} is not installed` };
  }
  if (!ext) {
    return {
      missing: `${EXT_PACKAGE}@${nodeLlamaCppVersion} (about 357 MB) is not installed: the runtime is installed without it where no NVIDIA driver was found`
    };
  }
  const folder = path.join(main, BINS_FOLDER);
  const binaries = {
    addon: path.join(folder, 'llama-addon.node'),
    cudaLibrary: path.join(ext, BINS_FOLDER, 'fallback', 'libggml-cuda.so'),
    cpuLibraries: readdirSync(folder)
      .filter(name => /^libggml-cpu-.+\.so$/.test(name))
      .map(name => path.join(folder, name))
  };
  const absent = [binaries.addon, binaries.cudaLibrary].find(file => !existsSync(file));
  return absent ? { missing: `${absent} is missing` } : binaries;
}

interface Addon {
  loadBackends(folder: string): void;
  getGpuType(): string | false | undefined;
}

/**
 * Kept for the life of the process: when the addon's exports are collected, its
 * finalizer frees llama.cpp's backend, which node-llama-cpp's own instance of the
 * same addon shares.
 */
const keptAlive: Addon[] = [];
let registration: Promise<void> | null = null;

/**
 * Registers the CUDA 12 library as ggml's CUDA backend in this process, so that
 * `getLlama({ gpu: 'cuda' })` runs on it. Rejects, saying why, when it registers
 * no GPU. Once per process: ggml cannot unload a backend.
 */
export function registerCuda12Backend(nodeLlamaCppVersion: string): Promise<void> {
  registration ??= register(nodeLlamaCppVersion);
  return registration;
}

async function register(nodeLlamaCppVersion: string): Promise<void> {
  const binaries = await findCuda12Binaries(nodeLlamaCppVersion);
  if ('missing' in binaries) {
    throw new Error(binaries.missing);
  }
  const addon = createRequire(__filename)(binaries.addon) as Addon;
  keptAlive.push(addon);
  // ggml loads every backend it finds in one folder: this one holds just the CUDA 12 library and the CPU ones.
  const folder = mkdtempSync(path.join(os.tmpdir(), 'datarus-cuda12-'));
  try {
    symlinkSync(binaries.cudaLibrary, path.join(folder, 'libggml-cuda.so'));
    for (const library of binaries.cpuLibraries) {
      symlinkSync(library, path.join(folder, path.basename(library)));
    }
    addon.loadBackends(folder);
  } finally {
    rmSync(folder, { recursive: true, force: true }); // loaded libraries stay mapped
  }
  if (addon.getGpuType() !== 'cuda') {
    throw new Error(`the CUDA 12 library registered no GPU: ${whyNotLoaded(binaries.cudaLibrary)}`);
  }
}

/** The dynamic loader's own words for a library that did not load (ggml loads quietly). */
function whyNotLoaded(library: string): string {
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, library);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/cannot open shared object file|undefined symbol|version .* not found/i.test(message)) {
      return `${message} (the CUDA 12 runtime, libcudart.so.12 and libcublas.so.12, must be on the library path)`;
    }
  }
  return 'it loaded but found no CUDA device (is the NVIDIA driver loaded, and does it support CUDA 12?)';
}
