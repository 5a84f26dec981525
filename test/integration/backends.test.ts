/**
 * The backend chain on the real path: `datarus serve` proves each GPU backend in a
 * self-test child before trusting it. CI has no GPU, so the test starts the real CLI with
 * faults injected (faults.ts): a backend is present and its self-test child aborts, exits or
 * hangs the way a broken GPU binary does; the host must run on the next backend and say why.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { cliWithFaults } from './faults';
import { CLI, ROOT } from './paths';
import { getJson, Running, startHost, waitForStatus } from './processes';

jest.setTimeout(180000);

const TOKEN = 'backends-token';

async function settledStatus(host: Running): Promise<any> {
  return waitForStatus(
    () => getJson(`${host.url}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } }),
    s => s.state === 'ready' || s.state === 'error',
    120000
  );
}

async function serveOnce(args: string[], env: NodeJS.ProcessEnv, faults: string): Promise<{ status: any; output: string }> {
  const host = await startHost(['--model', 'datarus-test-tiny', '--token', TOKEN, '--threads', '1', ...args], env, cliWithFaults(faults));
  try {
    return { status: await settledStatus(host), output: host.output() };
  } finally {
    expect(await host.stop()).toBe(0);
  }
}

describe('GPU backend selection', () => {
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-verdicts-'));
  const verdictFile = path.join(cacheDir, 'backend-verdicts.json');

  it('falls back past a CUDA that aborts and a Vulkan that exits in their self-tests, and says why', async () => {
    const { status, output } = await serveOnce([], { DATARUS_CACHE_DIR: cacheDir }, 'cuda:abort,vulkan:exit');
    expect(status.state).toBe('ready');
    expect(status.backend).toBe('cpu');
    expect(status.backends).toEqual([
      { name: 'cuda', ok: false, cached: false, reason: expect.stringContaining('CUDA error: the provided PTX was compiled with an unsupported toolchain') },
      // No CUDA libraries here: the CUDA 12 build is not tried (test/integration/backendChain.test.ts tries it).
      { name: 'cuda12', ok: false, cached: false, reason: expect.stringMatching(/^not available: /) },
      { name: 'vulkan', ok: false, cached: false, reason: expect.stringContaining('exit code 3') },
      { name: 'cpu', ok: true, cached: false, reason: null }
    ]);
    expect(status.backends[0].reason).toContain('SIGABRT');
    expect(status.backendNote).toMatch(/^CUDA rejected: self-test failed: CUDA error: .*; Vulkan rejected: .*; running on CPU$/);
    expect(status.model).toMatchObject({ name: 'datarus-test-tiny', gpuLayers: 0, totalLayers: expect.any(Number) });
    expect(output).toContain('datarus host backend: cpu');
  });

  it('reuses cached verdicts at the next start: no self-test runs', async () => {
    // Different faults now: if a self-test ran, the reasons would change.
    const { status } = await serveOnce([], { DATARUS_CACHE_DIR: cacheDir }, 'cuda:exit,vulkan:exit');
    expect(status.backend).toBe('cpu');
    expect(status.backends[0]).toMatchObject({ name: 'cuda', ok: false, cached: true, reason: expect.stringContaining('PTX') });
    expect(status.backendNote).toContain('(cached verdict)');
  });

  it('tests again when the node-llama-cpp version of a verdict differs', async () => {
    const stored = JSON.parse(readFileSync(verdictFile, 'utf8'));
    stored.verdicts.cuda.nodeLlamaCpp = '3.0.0';
    writeFileSync(verdictFile, JSON.stringify(stored));
    const { status } = await serveOnce([], { DATARUS_CACHE_DIR: cacheDir }, 'cuda:exit,vulkan:exit');
    expect(status.backends[0]).toMatchObject({ name: 'cuda', ok: false, cached: false, reason: expect.stringContaining('ggml error') });
    expect(status.backends[2]).toMatchObject({ name: 'vulkan', cached: true });
    const rewritten = JSON.parse(readFileSync(verdictFile, 'utf8'));
    expect(rewritten.verdicts.cuda.nodeLlamaCpp).not.toBe('3.0.0');
  });

  it('rejects a backend whose self-test hangs, after the time limit', async () => {
    const { status } = await serveOnce(['--selftest-timeout', '2'], { DATARUS_CACHE_DIR: mkdtempSync(path.join(os.tmpdir(), 'datarus-verdicts-')) }, 'vulkan:hang');
    expect(status.backend).toBe('cpu');
    expect(status.backends.find((b: any) => b.name === 'vulkan')).toMatchObject({ ok: false, reason: 'self-test failed: no answer within 2 s (the backend hung)' });
  });

  it('an explicit --gpu that fails keeps the host up with the reason (as under Jupyter) and does not fall back', async () => {
    // Under Jupyter the host runs with --stay-up-on-load-error, so the status bar can say why.
    const { status } = await serveOnce(
      ['--gpu', 'cuda', '--stay-up-on-load-error'],
      { DATARUS_CACHE_DIR: mkdtempSync(path.join(os.tmpdir(), 'datarus-verdicts-')) },
      'cuda:abort'
    );
    expect(status.state).toBe('error');
    expect(status.backend).toBeNull();
    expect(status.backends).toEqual([{ name: 'cuda', ok: false, cached: false, reason: expect.stringContaining('PTX') }]);
    expect(status.error).toMatch(/^--gpu cuda was chosen and did not work \(CUDA: self-test failed: CUDA error/);
    expect(status.error).toContain('does not fall back');
  });

  it('an explicit --gpu that fails ends a standalone datarus serve with the reason (exit 3)', async () => {
    const host = await startHost(
      ['--model', 'datarus-test-tiny', '--token', TOKEN, '--threads', '1', '--gpu', 'cuda'],
      { DATARUS_CACHE_DIR: mkdtempSync(path.join(os.tmpdir(), 'datarus-verdicts-')) },
      cliWithFaults('cuda:abort')
    );
    const code = host.proc.exitCode ?? (await once(host.proc, 'exit'))[0];
    expect(code).toBe(3);
    expect(host.output()).toMatch(/--gpu cuda was chosen and did not work/);
    expect(host.output()).toMatch(/could not load the model "datarus-test-tiny"; exiting/);
  });

  it('--gpu cpu (and DATARUS_GPU=cpu) runs on the CPU with no self-test', async () => {
    const env = { DATARUS_CACHE_DIR: mkdtempSync(path.join(os.tmpdir(), 'datarus-verdicts-')) };
    const byOption = await serveOnce(['--gpu', 'cpu'], env, 'cuda:abort');
    expect(byOption.status.backend).toBe('cpu');
    expect(byOption.status.backends).toEqual([{ name: 'cpu', ok: true, cached: false, reason: null }]);
    expect(byOption.status.backendNote).toBeNull();
    const byEnv = await serveOnce([], { ...env, DATARUS_GPU: 'cpu' }, 'cuda:abort');
    expect(byEnv.status.backends).toEqual([{ name: 'cpu', ok: true, cached: false, reason: null }]);
  });

  it.each([
    [['--gpu', 'tpu'], {}, /unknown GPU backend "tpu"/],
    [[], { DATARUS_GPU: 'rocm' }, /unknown GPU backend "rocm"/],
    [['--gpu-layers', 'many'], {}, /must be auto or a whole number of layers/]
  ])('refuses %j %j with a clear message and a non-zero exit', (args, env, message) => {
    const out = spawnSync(process.execPath, [CLI, 'serve', '--port', '0', '--token', TOKEN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 60000
    });
    expect(out.status).not.toBe(0);
    expect(out.status).not.toBeNull();
    expect(out.stderr).toMatch(message);
  });
});
