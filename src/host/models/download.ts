/**
 * Model downloads that resume and verify. The file grows as `<name>.part` and
 * is renamed to its final name only when complete and, if the manifest has a
 * checksum, verified: a half or corrupt file never sits under the final name.
 *
 * node-llama-cpp's own downloader was tried first (3.21.1, against a local
 * server): after an abort it removed the partial file even with
 * `deleteTempFileOnCancel: false`, and the next download restarted from byte 0,
 * so resuming needs this small module.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import type { DownloadProgress, DownloadResult } from '../../contract';

export interface DownloadOptions {
  url: string;
  dest: string;
  sha256?: string;
  expectedBytes?: number;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
}

export class DownloadError extends Error {
  name = 'DownloadError';
}

export function partPath(dest: string): string {
  return `${dest}.part`;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export async function downloadFile(options: DownloadOptions): Promise<DownloadResult> {
  const { url, dest, signal } = options;
  const part = partPath(dest);
  const have = await fs.stat(part).then(
    s => s.size,
    () => 0
  );
  const headers: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
  let response: Response;
  try {
    response = await fetch(url, { headers, signal, redirect: 'follow' });
  } catch (err) {
    if (signal?.aborted) {
      throw new DownloadError(`download cancelled; ${have} bytes kept in ${part} for the next try`);
    }
    throw new DownloadError(`could not reach ${url}: ${(err as Error).message}`);
  }
  let resumedFrom = 0;
  let total: number | null = null;
  if (response.status === 416 && have > 0) {
    // The part file already holds everything: verify it below.
    await response.body?.cancel();
    resumedFrom = have;
    total = have;
  } else if (response.status === 206 && have > 0) {
    resumedFrom = have;
    const range = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
    total = range ? Number(range[1]) : have + Number(response.headers.get('content-length') ?? NaN) || null;
  } else if (response.status === 200) {
    total = Number(response.headers.get('content-length')) || null;
  } else {
    await response.body?.cancel();
    throw new DownloadError(`${url} answered HTTP ${response.status} ${response.statusText}`);
  }

  if (response.status !== 416 && response.body) {
    const started = Date.now();
    let received = 0;
    let lastReport = 0;
    const report = (force: boolean) => {
      const now = Date.now();
      if (!options.onProgress || (!force && now - lastReport < 200)) {
        return;
      }
      lastReport = now;
      const done = resumedFrom + received;
      const speed = received / Math.max(0.001, (now - started) / 1000);
      options.onProgress({
        downloadedBytes: done,
        totalBytes: total,
        percent: total ? (100 * done) / total : null,
        bytesPerSecond: speed,
        etaSeconds: total && speed > 0 ? (total - done) / speed : null,
        resumedFromBytes: resumedFrom
      });
    };
    const body = Readable.fromWeb(response.body as any);
    body.on('data', (chunk: Buffer) => {
      received += chunk.length;
      report(false);
    });
    try {
      await pipeline(body, createWriteStream(part, { flags: resumedFrom > 0 ? 'a' : 'w' }), { signal });
    } catch (err) {
      const kept = await fs.stat(part).then(s => s.size, () => 0);
      if (signal?.aborted) {
        throw new DownloadError(`download cancelled; ${kept} bytes kept in ${part} for the next try`);
      }
      throw new DownloadError(`the download broke off (${(err as Error).message}); ${kept} bytes kept in ${part}: run it again to resume`);
    }
    report(true);
  }

  const bytes = (await fs.stat(part)).size;
  const expected = options.expectedBytes ?? total;
  if (expected !== null && expected !== undefined && bytes !== expected) {
    throw new DownloadError(`the download has ${bytes} bytes, ${expected} were expected; run it again to resume`);
  }
  const digest = await sha256File(part);
  if (options.sha256 && digest !== options.sha256.toLowerCase()) {
    await fs.unlink(part);
    throw new DownloadError(`checksum mismatch: expected sha256 ${options.sha256}, got ${digest}; the file was deleted, download it again`);
  }
  await fs.rename(part, dest);
  return { path: dest, bytes, resumedFromBytes: resumedFrom, sha256: digest };
}
