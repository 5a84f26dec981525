/**
 * Which compute backend the host runs on: the `--gpu` choice, the fallback
 * chain, and the selection that proves a GPU backend before trusting it.
 *
 * A GPU backend can pass node-llama-cpp's own checks and still abort the whole
 * process at the first decode (a CUDA binary built by a newer toolkit than the
 * driver can JIT). So each GPU backend first runs a self-test in a child
 * process; its verdict is cached, and a rejected backend falls through to the
 * next one in the chain with the reason kept for the status.
 *
 * On Linux x64 the chain has two CUDA backends: node-llama-cpp's main CUDA
 * binary, then its CUDA 12 build (cuda12.ts), which runs where the driver is
 * older than the main binary's toolkit.
 */
import type { Llama } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import type { Backend, BackendReport } from '../../contract';
import { registerCuda12Backend } from './cuda12';
import { SelfTestResult } from './selftest';
import { Verdict, VerdictCache } from './verdicts';

export type { Backend, BackendReport } from '../../contract';
export const BACKENDS: readonly Backend[] = ['cuda', 'cuda12', 'vulkan', 'metal', 'cpu'];

/** What `--gpu` asked for: the backends to try, in order. */
export interface GpuChoice {
  chain: Backend[];
  /** Named by the user (not `auto`): no silent fallback beyond the named backends. */
  explicit: boolean;
  /** The option as given, for messages. */
  text: string;
}

export class GpuOptionError extends Error {
  name = 'GpuOptionError';
}

/** The fallback chain of this platform: CUDA → CUDA 12 → Vulkan → CPU on Linux, CUDA → Vulkan → CPU on Windows, Metal → CPU on macOS. */
export function platformChain(platform: NodeJS.Platform = process.platform): Backend[] {
  return platform === 'darwin' ? ['metal', 'cpu'] : platform === 'linux' ? ['cuda', 'cuda12', 'vulkan', 'cpu'] : ['cuda', 'vulkan', 'cpu'];
}

/**
 * Parses `--gpu auto|cuda|vulkan|metal|cpu`, or a comma-separated list of backends
 * to try in that order (how the Jupyter server restarts a host that crashed on one).
 */
export function parseGpuChoice(text: string, platform: NodeJS.Platform = process.platform): GpuChoice {
  const value = text.trim().toLowerCase();
  if (value === 'auto' || value === '') {
    return { chain: platformChain(platform), explicit: false, text: 'auto' };
  }
  const names = value.split(',').map(name => name.trim());
  const unknown = names.filter(name => !(BACKENDS as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    throw new GpuOptionError(`unknown GPU backend "${unknown.join(', ') || text}": use auto, ${BACKENDS.join(', ')}, or a comma-separated list of them`);
  }
  return { chain: [...new Set(names as Backend[])], explicit: true, text: value };
}

/** Display names for messages and the status bar. */
export function backendLabel(backend: Backend): string {
  return BACKEND_LABELS[backend];
}

const BACKEND_LABELS: Record<Backend, string> = { cpu: 'CPU', cuda: 'CUDA', cuda12: 'CUDA 12', vulkan: 'Vulkan', metal: 'Metal' };

type LlamaLib = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });

/**
 * Starts node-llama-cpp on `backend`, prebuilt binaries only: `cuda12` is its CUDA
 * binary with the CUDA 12 library registered first (cuda12.ts).
 */
export async function startLlama(lib: LlamaLib, backend: Backend): Promise<Llama> {
  if (backend === 'cuda12') {
    await registerCuda12Backend(await lib.getModuleVersion());
  }
  return lib.getLlama({
    gpu: backend === 'cpu' ? false : backend === 'cuda12' ? 'cuda' : backend,
    build: 'never', // never compile or download at run time: prebuilt binaries only
    logLevel: lib.LlamaLogLevel.error
  });
}

export interface SelectionDeps {
  /** Starts node-llama-cpp on a backend (startLlama). */
  start: (backend: Backend) => Promise<Llama>;
  cache: VerdictCache;
  /** node-llama-cpp version and driver version: what a cached verdict must match. */
  nodeLlamaCppVersion: string;
  driver: string;
  /** Backends whose prebuilt binary and driver libraries are present. */
  available: ReadonlySet<Backend>;
  /** Why a backend is not available, where more can be said than that it is absent. */
  unavailable?: ReadonlyMap<Backend, string>;
  selfTest: (backend: Backend) => Promise<SelfTestResult>;
  /** Called once a backend is chosen, before the model loads (the Jupyter server logs it). */
  onChosen?: (backend: Backend) => void;
}

export interface Selection {
  llama: Llama | null;
  backend: Backend | null;
  reports: BackendReport[];
  /** Set when no backend of the choice works: why, in words. */
  error: string | null;
}

/** Tries the chain in order; returns the first backend that proves itself. */
export async function selectBackend(choice: GpuChoice, deps: SelectionDeps): Promise<Selection> {
  const reports: BackendReport[] = [];
  for (const backend of choice.chain) {
    if (backend !== 'cpu' && !deps.available.has(backend)) {
      const why = deps.unavailable?.get(backend) ?? `no ${backendLabel(backend)} device, driver or prebuilt binary found`;
      reports.push({ name: backend, ok: false, reason: `not available: ${why}`, cached: false });
      continue;
    }
    let cached = false;
    if (backend !== 'cpu') {
      // The CPU needs no self-test: its binary cannot abort on a driver mismatch.
      const verdict = await provenVerdict(backend, deps);
      if (!verdict.ok) {
        reports.push({ name: backend, ok: false, reason: `self-test failed: ${verdict.reason}`, cached: verdict.cached });
        continue;
      }
      cached = verdict.cached;
    }
    try {
      const llama = await deps.start(backend);
      reports.push({ name: backend, ok: true, reason: null, cached });
      deps.onChosen?.(backend);
      return { llama, backend, reports, error: null };
    } catch (err) {
      reports.push({ name: backend, ok: false, reason: `could not start: ${err instanceof Error ? err.message : String(err)}`, cached: false });
    }
  }
  return { llama: null, backend: null, reports, error: noBackendMessage(choice, reports) };
}

async function provenVerdict(backend: Backend, deps: SelectionDeps): Promise<{ ok: boolean; reason: string | null; cached: boolean }> {
  const key = { backend, nodeLlamaCpp: deps.nodeLlamaCppVersion, driver: deps.driver };
  const known = await deps.cache.lookup(key);
  if (known) {
    return { ok: known.ok, reason: known.reason, cached: true };
  }
  const result = await deps.selfTest(backend);
  const verdict: Verdict = { ...key, ok: result.ok, reason: result.reason, testedAt: new Date().toISOString() };
  await deps.cache.store(verdict).catch(() => undefined); // an unwritable cache only costs a self-test next time
  return { ok: result.ok, reason: result.reason, cached: false };
}

function noBackendMessage(choice: GpuChoice, reports: BackendReport[]): string {
  const why = reports.map(r => `${backendLabel(r.name)}: ${r.reason}`).join('; ');
  if (choice.explicit) {
    return `--gpu ${choice.text} was chosen and did not work (${why}). The host does not fall back by itself from an explicit choice: use --gpu auto or another backend.`;
  }
  return `no compute backend works (${why})`;
}

/** One line for people: "CUDA rejected: …; running on Vulkan". */
export function describeSelection(reports: readonly BackendReport[]): string | null {
  const inUse = reports.find(r => r.ok);
  const rejected = reports.filter(r => !r.ok && !r.reason?.startsWith('not available'));
  if (rejected.length === 0) {
    return null;
  }
  const parts = rejected.map(r => `${backendLabel(r.name)} rejected: ${r.reason}${r.cached ? ' (cached verdict)' : ''}`);
  return `${parts.join('; ')}; ${inUse ? `running on ${backendLabel(inUse.name)}` : 'no backend works'}`;
}
