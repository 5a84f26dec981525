/**
 * Backend choice, fallback order and the verdict cache, with a scripted
 * node-llama-cpp and self-test (the real path is in test/integration/backends.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Backend, describeSelection, parseGpuChoice, platformChain, selectBackend, SelectionDeps } from '../../src/host/backend/backends';
import { firstErrorLine, withHint } from '../../src/host/backend/selftest';
import { driverVersion, VerdictCache } from '../../src/host/backend/verdicts';
import { dieAtLoadOn, faultedBackends, faultFor } from '../integration/fixtures/faults';

function tmpFile(name: string): string {
  return path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-unit-')), name);
}

function deps(overrides: Partial<SelectionDeps> & { failToStart?: Backend[] } = {}): SelectionDeps & { selfTests: Backend[]; started: string[] } {
  const selfTests: Backend[] = [];
  const started: string[] = [];
  const start = async (backend: Backend) => {
    if (overrides.failToStart?.includes(backend)) {
      throw new Error(`no ${backend} binary`);
    }
    started.push(backend);
    return { gpu: backend === 'cpu' ? false : backend } as unknown as Awaited<ReturnType<SelectionDeps['start']>>;
  };
  return {
    start,
    cache: new VerdictCache(tmpFile('verdicts.json')),
    nodeLlamaCppVersion: '3.21.1',
    driver: 'nvidia 580.159.04',
    available: new Set<Backend>(['cuda', 'vulkan']),
    selfTest: async backend => {
      selfTests.push(backend);
      return backend === 'cuda' ? { ok: false, reason: 'CUDA error: unsupported toolchain (SIGABRT)' } : { ok: true, reason: null };
    },
    ...overrides,
    selfTests,
    started
  };
}

describe('parseGpuChoice', () => {
  it('auto is the platform chain and not explicit', () => {
    expect(parseGpuChoice('auto', 'linux')).toEqual({ chain: ['cuda', 'cuda12', 'vulkan', 'cpu'], explicit: false, text: 'auto' });
    expect(parseGpuChoice('AUTO', 'darwin').chain).toEqual(['metal', 'cpu']);
    // node-llama-cpp's CUDA 12 build is used on Linux x64 only.
    expect(platformChain('win32')).toEqual(['cuda', 'vulkan', 'cpu']);
  });

  it('a name or a list is explicit and kept in order', () => {
    expect(parseGpuChoice('cpu')).toEqual({ chain: ['cpu'], explicit: true, text: 'cpu' });
    expect(parseGpuChoice('vulkan, cpu').chain).toEqual(['vulkan', 'cpu']);
    expect(parseGpuChoice('cuda12').chain).toEqual(['cuda12']);
  });

  it('refuses unknown names', () => {
    expect(() => parseGpuChoice('rocm')).toThrow('unknown GPU backend "rocm"');
    expect(() => parseGpuChoice('cuda,,cpu')).toThrow(/unknown GPU backend/);
  });
});

describe('selectBackend', () => {
  it('after a CUDA that aborts, tries CUDA 12 with its own self-test, and runs on it when it passes', async () => {
    const d = deps({ available: new Set<Backend>(['cuda', 'cuda12', 'vulkan']) });
    const selection = await selectBackend(parseGpuChoice('auto', 'linux'), d);
    expect(d.selfTests).toEqual(['cuda', 'cuda12']);
    expect(selection.backend).toBe('cuda12');
    expect(d.started).toEqual(['cuda12']);
    expect(selection.reports).toEqual([
      { name: 'cuda', ok: false, cached: false, reason: 'self-test failed: CUDA error: unsupported toolchain (SIGABRT)' },
      { name: 'cuda12', ok: true, cached: false, reason: null }
    ]);
    expect(describeSelection(selection.reports)).toBe('CUDA rejected: self-test failed: CUDA error: unsupported toolchain (SIGABRT); running on CUDA 12');
  });

  it('a CUDA 12 that fails its self-test too leaves Vulkan, each with its own reason and cached verdict', async () => {
    const selfTest = async (backend: Backend) =>
      backend === 'vulkan' ? { ok: true, reason: null } : { ok: false, reason: `${backend} failed (SIGABRT)` };
    const first = deps({ available: new Set<Backend>(['cuda', 'cuda12', 'vulkan']), selfTest });
    const selection = await selectBackend(parseGpuChoice('auto', 'linux'), first);
    expect(selection.backend).toBe('vulkan');
    expect(selection.reports.map(r => [r.name, r.reason])).toEqual([
      ['cuda', 'self-test failed: cuda failed (SIGABRT)'],
      ['cuda12', 'self-test failed: cuda12 failed (SIGABRT)'],
      ['vulkan', null]
    ]);
    expect(describeSelection(selection.reports)).toMatch(/^CUDA rejected: .*; CUDA 12 rejected: .*; running on Vulkan$/);
    const again = deps({ available: first.available, cache: first.cache });
    await selectBackend(parseGpuChoice('auto', 'linux'), again);
    expect(again.selfTests).toEqual([]);
  });

  it('says why a backend is not available when it knows more than that it is absent', async () => {
    const d = deps({ available: new Set<Backend>(['cuda']), unavailable: new Map([['cuda12', 'its package is not installed']]) });
    const selection = await selectBackend(parseGpuChoice('auto', 'linux'), d);
    expect(selection.reports[1]).toEqual({ name: 'cuda12', ok: false, cached: false, reason: 'not available: its package is not installed' });
    expect(selection.reports[2].reason).toBe('not available: no Vulkan device, driver or prebuilt binary found');
  });

  it('skips a CUDA whose self-test fails and runs on Vulkan, with the reason', async () => {
    const d = deps();
    const selection = await selectBackend(parseGpuChoice('auto', 'linux'), d);
    expect(selection.backend).toBe('vulkan');
    expect(selection.reports).toEqual([
      { name: 'cuda', ok: false, cached: false, reason: 'self-test failed: CUDA error: unsupported toolchain (SIGABRT)' },
      { name: 'cuda12', ok: false, cached: false, reason: 'not available: no CUDA 12 device, driver or prebuilt binary found' },
      { name: 'vulkan', ok: true, cached: false, reason: null }
    ]);
    expect(describeSelection(selection.reports)).toBe('CUDA rejected: self-test failed: CUDA error: unsupported toolchain (SIGABRT); running on Vulkan');
    expect(d.started).toEqual(['vulkan']);
  });

  it('uses cached verdicts at the next start and self-tests again after a driver update', async () => {
    const first = deps();
    await selectBackend(parseGpuChoice('auto', 'linux'), first);
    expect(first.selfTests).toEqual(['cuda', 'vulkan']);

    const second = deps({ cache: first.cache });
    const again = await selectBackend(parseGpuChoice('auto', 'linux'), second);
    expect(second.selfTests).toEqual([]);
    expect(again.reports.filter(r => r.name !== 'cuda12').map(r => r.cached)).toEqual([true, true]);

    const updated = deps({ cache: first.cache, driver: 'nvidia 590.10' });
    await selectBackend(parseGpuChoice('auto', 'linux'), updated);
    expect(updated.selfTests).toEqual(['cuda', 'vulkan']);

    const newLibrary = deps({ cache: first.cache, driver: 'nvidia 590.10', nodeLlamaCppVersion: '3.22.0' });
    await selectBackend(parseGpuChoice('auto', 'linux'), newLibrary);
    expect(newLibrary.selfTests).toEqual(['cuda', 'vulkan']);
  });

  it('reports backends that are not on this machine without testing them, and never self-tests the CPU', async () => {
    const d = deps({ available: new Set() });
    const selection = await selectBackend(parseGpuChoice('auto', 'linux'), d);
    expect(selection.backend).toBe('cpu');
    expect(d.selfTests).toEqual([]);
    expect(selection.reports.map(r => [r.name, r.ok])).toEqual([
      ['cuda', false],
      ['cuda12', false],
      ['vulkan', false],
      ['cpu', true]
    ]);
    expect(describeSelection(selection.reports)).toBeNull();
  });

  it('a backend that passes its self-test but fails to start falls through too', async () => {
    const d = deps({ failToStart: ['vulkan'] });
    const selection = await selectBackend(parseGpuChoice('auto', 'linux'), d);
    expect(selection.backend).toBe('cpu');
    expect(selection.reports[2]).toEqual({ name: 'vulkan', ok: false, cached: false, reason: 'could not start: no vulkan binary' });
  });

  it('an explicit choice that fails gives no backend and says so', async () => {
    const selection = await selectBackend(parseGpuChoice('cuda'), deps());
    expect(selection.llama).toBeNull();
    expect(selection.error).toMatch(/^--gpu cuda was chosen and did not work \(CUDA: self-test failed: CUDA error/);
  });
});

describe('VerdictCache', () => {
  it('survives a missing or corrupt file', async () => {
    const file = tmpFile('verdicts.json');
    const cache = new VerdictCache(file);
    const key = { backend: 'cuda', nodeLlamaCpp: '3.21.1', driver: 'd' };
    expect(await cache.lookup(key)).toBeNull();
    writeFileSync(file, '{not json');
    expect(await cache.lookup(key)).toBeNull();
    await cache.store({ ...key, ok: true, reason: null, testedAt: 'now' });
    expect(await cache.lookup(key)).toMatchObject({ ok: true });
    expect(await cache.lookup({ ...key, nodeLlamaCpp: '3.21.2' })).toBeNull();
  });
});

describe('self-test helpers', () => {
  it('keeps the first error line of stderr as the reason', () => {
    expect(firstErrorLine('loading\nCUDA error: the provided PTX was compiled with an unsupported toolchain.\n  in ggml_cuda\nerror again')).toBe(
      'CUDA error: the provided PTX was compiled with an unsupported toolchain.'
    );
    expect(firstErrorLine('just a line\n')).toBe('just a line');
    expect(firstErrorLine('')).toBeNull();
  });

  it('explains a CUDA abort whose message the abort cut off', () => {
    const seen = '/home/runner/work/node-llama-cpp/node-llama-cpp/llama/llama.cpp/ggml/src/ggml-cuda/ggml-cuda.cu:108: CUDA error (the process was killed by SIGABRT)';
    expect(withHint(seen)).toMatch(/^\/home\/runner.*SIGABRT\): .*driver older than the CUDA toolkit/);
    expect(withHint('no answer within 90 s (the backend hung)')).toBe('no answer within 90 s (the backend hung)');
    expect(withHint('ggml-cuda.cu:108: CUDA error (exit code 1)')).toBe('ggml-cuda.cu:108: CUDA error (exit code 1)');
  });

  it('reads the faults a test injects into its host, per backend', () => {
    const spec = 'cuda:abort, vulkan:hang';
    expect(faultFor('cuda', spec)).toBe('abort');
    expect(faultFor('vulkan', spec)).toBe('hang');
    expect(faultFor('cpu', spec)).toBeNull();
    expect(faultFor('cuda', '')).toBeNull();
    expect(faultedBackends('cuda:abort,load:cpu,vulkan:exit')).toEqual(['cuda', 'vulkan']);
    expect(dieAtLoadOn('cuda:abort,load:cpu')).toEqual(['cpu']);
  });

  it('reads the NVIDIA driver version from /proc', async () => {
    const file = tmpFile('version');
    writeFileSync(file, 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Tue Oct  1 00:00:00 UTC 2025\nGCC version: gcc 12\n');
    expect(await driverVersion(file)).toBe('nvidia 580.159.04');
    expect(await driverVersion(tmpFile('absent'))).toBe(`${process.platform} ${os.release()}`);
  });
});
