/**
 * The backend self-test: a child process loads one backend and a tiny model
 * and decodes a few tokens. A GPU binary that aborts, exits or hangs takes only
 * the child down; the host keeps the first error line as the reason.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import type { Backend } from '../../contract';
import { BUNDLED_VERSION } from '../version';

/**
 * The tiny model every self-test decodes (written by models/make_fixture.py --size selftest, shipped with the
 * package) and the child program: in a checkout under models/ and lib-node/; the bundled host (a pip
 * install) carries both next to itself (scripts/bundle-host.mjs).
 */
export const SELFTEST_MODEL = BUNDLED_VERSION ? path.join(__dirname, 'selftest.gguf') : path.resolve(__dirname, '..', '..', '..', 'models', 'selftest.gguf');
const CHILD = path.join(__dirname, BUNDLED_VERSION ? 'datarus-selftest.js' : 'selftestChild.js');
export const SELFTEST_TIMEOUT_MS = 90_000;

export interface SelfTestResult {
  ok: boolean;
  reason: string | null;
}

export interface SelfTestOptions {
  timeoutMs?: number;
  model?: string;
  env?: NodeJS.ProcessEnv;
  /** The child program, run as `node <program> <backend> <model>` (default: selftestChild; tests give their own). */
  program?: string;
}

export function runSelfTest(backend: Backend, options: SelfTestOptions = {}): Promise<SelfTestResult> {
  const timeoutMs = options.timeoutMs ?? SELFTEST_TIMEOUT_MS;
  return new Promise(resolve => {
    const child = spawn(process.execPath, [options.program ?? CHILD, backend, options.model ?? SELFTEST_MODEL], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    // Keep the start of stderr: the first error line is the cause, later ones are its echoes.
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(0, 64 * 1024)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', err => {
      clearTimeout(timer);
      resolve({ ok: false, reason: `the self-test could not start: ${err.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        resolve({ ok: false, reason: `no answer within ${Math.round(timeoutMs / 1000)} s (the backend hung)` });
        return;
      }
      const answer = lastJsonLine(stdout);
      if (code === 0 && answer?.ok === true) {
        resolve({ ok: true, reason: null });
        return;
      }
      const how = signal ? `the process was killed by ${signal}` : `exit code ${code}`;
      const cause = (typeof answer?.error === 'string' ? answer.error : null) ?? firstErrorLine(stderr);
      const reason = cause ? `${cause} (${how})` : how;
      resolve({ ok: false, reason: withHint(reason) });
    });
  });
}

/** The line of stderr that names the cause: the first that mentions an error, else the first line. */
export function firstErrorLine(stderr: string): string | null {
  const lines = stderr.split('\n').map(line => line.trim()).filter(Boolean);
  return lines.find(line => /error|abort|fail|exception/i.test(line)) ?? lines[0] ?? null;
}

/**
 * llama.cpp's own message for a CUDA failure goes through node-llama-cpp's log callback, which an
 * abort cuts off: what reaches stderr is only `ggml-cuda.cu:N: CUDA error`. Say what it usually means.
 * Seen on an H100 with driver 580.159.04 (CUDA 13.0) and node-llama-cpp 3.21.1's prebuilt CUDA binary.
 */
export function withHint(reason: string): string {
  if (/ggml-cuda[^:]*:\d+: CUDA error/.test(reason) && /SIGABRT/.test(reason)) {
    return (
      `${reason}: llama.cpp's CUDA code failed at the first decode; the usual cause is an NVIDIA driver older than the ` +
      'CUDA toolkit the prebuilt binary was built with (update the driver, or run on Vulkan)'
    );
  }
  return reason;
}

function lastJsonLine(stdout: string): { ok?: boolean; error?: unknown } | null {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      return JSON.parse(line);
    } catch {
      // not the answer line
    }
  }
  return null;
}
