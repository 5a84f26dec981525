/**
 * The backend chain CUDA → CUDA 12 → Vulkan → CPU through the host's engine, with
 * the backend probe a test gives it (test/integration/fixtures/backendChain.mjs):
 * CUDA's self-test child dies as node-llama-cpp's CUDA 13 binary does on a driver
 * that supports CUDA 13.0 (the PTX message, SIGABRT); CUDA 12 is then tried with
 * its own verdict and reason. This machine has no GPU, so the real CUDA 12 child
 * is rejected (its library finds no CUDA 12 runtime, or its package is not
 * installed); a CUDA 12 child that passes makes the host start CUDA 12 itself,
 * which fails here the same way and leaves the host on the CPU.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ROOT } from './paths';

jest.setTimeout(180000);

const SCRIPT = path.join(__dirname, 'fixtures', 'backendChain.mjs');
const CUDA12_ABSENT = /the CUDA 12 library registered no GPU: .*libcudart\.so\.12|@node-llama-cpp\/linux-x64-cuda-ext@\S+ \(about 357 MB\) is not installed/;

function start(verdicts: string, children: string): { status: any; completionTokens: number | null } {
  const out = execFileSync(process.execPath, [SCRIPT, ROOT, verdicts, 'cuda,cuda12', children], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('the CUDA 12 backend in the chain', () => {
  const verdicts = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-chain-')), 'backend-verdicts.json');

  it('is tried after CUDA aborts in its self-test, with its own verdict and reason', () => {
    const { status, completionTokens } = start(verdicts, 'cuda=aborts,cuda12=real');
    expect(status.backends.map((b: any) => [b.name, b.ok])).toEqual([
      ['cuda', false],
      ['cuda12', false],
      ['vulkan', false],
      ['cpu', true]
    ]);
    expect(status.backends[0].reason).toMatch(/^self-test failed: CUDA error: the provided PTX was compiled with an unsupported toolchain\..*SIGABRT/);
    expect(status.backends[1].reason).toMatch(/^self-test failed: /);
    expect(status.backends[1].reason).toMatch(CUDA12_ABSENT);
    expect(status.backendNote).toMatch(/^CUDA rejected: self-test failed: .*; CUDA 12 rejected: self-test failed: .*; running on CPU$/);
    expect(status.backend).toBe('cpu');
    expect(completionTokens).toBeGreaterThan(0);
    const stored = JSON.parse(readFileSync(verdicts, 'utf8')).verdicts;
    expect(stored.cuda12).toMatchObject({ backend: 'cuda12', ok: false, reason: expect.stringMatching(CUDA12_ABSENT) });
  });

  it('keeps its verdict: at the next start no self-test runs for it', () => {
    // A CUDA 12 child that would pass: a self-test that ran would change the outcome.
    const { status } = start(verdicts, 'cuda=aborts,cuda12=passes');
    expect(status.backends[1]).toMatchObject({ name: 'cuda12', ok: false, cached: true, reason: expect.stringMatching(CUDA12_ABSENT) });
  });

  it('accepted by its self-test, is started by the host itself, and a start that fails goes on down the chain', () => {
    const fresh = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-chain-')), 'backend-verdicts.json');
    const { status, completionTokens } = start(fresh, 'cuda=aborts,cuda12=passes');
    expect(status.backends[1]).toMatchObject({ name: 'cuda12', ok: false, cached: false, reason: expect.stringMatching(/^could not start: /) });
    expect(status.backends[1].reason).toMatch(CUDA12_ABSENT);
    expect(JSON.parse(readFileSync(fresh, 'utf8')).verdicts.cuda12).toMatchObject({ ok: true });
    // The CPU backend works in the same process after the CUDA 12 attempt.
    expect(status.backend).toBe('cpu');
    expect(completionTokens).toBeGreaterThan(0);
  });
});
