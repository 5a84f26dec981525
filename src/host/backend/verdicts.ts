/**
 * The cache of backend self-test verdicts: one small JSON file in the user's
 * cache folder, so a normal start costs no self-test. A verdict holds only for
 * the node-llama-cpp version and driver version it was measured with.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface VerdictKey {
  backend: string;
  nodeLlamaCpp: string;
  driver: string;
}

export interface Verdict extends VerdictKey {
  ok: boolean;
  reason: string | null;
  testedAt: string;
}

interface VerdictFile {
  version: 1;
  verdicts: Record<string, Verdict>;
}

export const VERDICT_FILE_NAME = 'backend-verdicts.json';

/** `$DATARUS_CACHE_DIR`, else the platform's per-user cache folder, + `datarus`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DATARUS_CACHE_DIR) {
    return env.DATARUS_CACHE_DIR;
  }
  if (process.platform === 'darwin') {
    return path.join(os.homedir(), 'Library', 'Caches', 'datarus');
  }
  if (process.platform === 'win32') {
    return path.join(env.LOCALAPPDATA ?? path.join(os.homedir(), 'AppData', 'Local'), 'datarus', 'cache');
  }
  return path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'datarus');
}

export class VerdictCache {
  constructor(readonly file: string) {}

  /** The stored verdict for this backend, only if it was measured with the same versions. */
  async lookup(key: VerdictKey): Promise<Verdict | null> {
    const stored = (await this._read()).verdicts[key.backend];
    if (!stored || stored.nodeLlamaCpp !== key.nodeLlamaCpp || stored.driver !== key.driver) {
      return null;
    }
    return stored;
  }

  async store(verdict: Verdict): Promise<void> {
    const data = await this._read();
    data.verdicts[verdict.backend] = verdict;
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    // Written whole and renamed: two hosts starting at once never leave a half-written file.
    const tmp = `${this.file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(data, null, 2) + '\n');
    await fs.rename(tmp, this.file);
  }

  private async _read(): Promise<VerdictFile> {
    try {
      const parsed = JSON.parse(await fs.readFile(this.file, 'utf8')) as VerdictFile;
      if (parsed && parsed.version === 1 && typeof parsed.verdicts === 'object' && parsed.verdicts !== null) {
        return parsed;
      }
    } catch {
      // Missing or unreadable: the self-test runs again and rewrites it.
    }
    return { version: 1, verdicts: {} };
  }
}

/**
 * The GPU driver's version, part of a verdict's key: a driver update can fix (or
 * break) a backend. NVIDIA's kernel module reports it in /proc; elsewhere the OS
 * release stands in.
 */
export async function driverVersion(procFile = '/proc/driver/nvidia/version'): Promise<string> {
  const text = await fs.readFile(procFile, 'utf8').catch(() => null);
  const match = text?.match(/Kernel Module\s+(?:for\s+\S+\s+)?([0-9][0-9.]*)/) ?? text?.match(/\b(\d{3,}\.\d+(?:\.\d+)?)\b/);
  if (match) {
    return `nvidia ${match[1]}`;
  }
  return `${process.platform} ${os.release()}`;
}
