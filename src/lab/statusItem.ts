/**
 * The status-bar item: which model the host has loaded and on what backend,
 * or that it is loading, or down and why. It polls the host's status.
 */
import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { fetchHostStatus, HostError, HostStatus } from './api';

export type StatusView =
  | { kind: 'ready'; status: HostStatus }
  | { kind: 'loading'; status: HostStatus }
  | { kind: 'idle'; status: HostStatus }
  | { kind: 'error'; message: string; status?: HostStatus }
  | { kind: 'connecting' };

/** What the item shows for a view: short label and a tooltip with the details. */
export function describe(view: StatusView): { label: string; title: string } {
  switch (view.kind) {
    case 'connecting':
      return { label: 'Datarus: starting…', title: 'Starting the Datarus model host' };
    case 'loading':
      return {
        label: `Datarus: loading ${Math.round(view.status.loadProgress * 100)}%`,
        title: 'The model host is loading a model'
      };
    case 'idle':
      return { label: 'Datarus: no model', title: view.status.error ?? 'The model host has no model loaded' };
    case 'error':
      return { label: 'Datarus: host down', title: view.message };
    case 'ready': {
      const s = view.status;
      const backend = s.backend === 'cpu' ? `CPU, ${s.threads} threads` : `${s.backend?.toUpperCase()} ${s.gpu?.name ?? ''}`.trim();
      const lines = [
        `Model: ${s.model!.name}`,
        `Backend: ${backend}`,
        s.gpu ? `Free VRAM: ${(s.gpu.vramFreeBytes / 2 ** 30).toFixed(1)} GiB of ${(s.gpu.vramTotalBytes / 2 ** 30).toFixed(1)}` : null,
        `Context: ${s.contextSize} tokens`,
        `Host ${s.version}`,
        s.backendNote
      ].filter(Boolean);
      return { label: `Datarus: ${s.model!.name} · ${s.backend === 'cpu' ? 'CPU' : s.backend?.toUpperCase()}`, title: lines.join('\n') };
    }
  }
}

export function viewOf(status: HostStatus): StatusView {
  if (status.state === 'ready' && status.model) {
    return { kind: 'ready', status };
  }
  if (status.state === 'loading' || status.state === 'starting') {
    return { kind: 'loading', status };
  }
  if (status.state === 'error') {
    return { kind: 'error', message: status.error ?? 'The model host failed', status };
  }
  return { kind: 'idle', status };
}

export class HostStatusItem extends Widget {
  constructor(options: { interval: number; fetch?: typeof fetchHostStatus }) {
    super();
    this.addClass('jp-DatarusStatus');
    this.node.setAttribute('data-datarus-status', 'connecting');
    this._fetch = options.fetch ?? fetchHostStatus;
    this._render({ kind: 'connecting' });
    this._poll = new Poll({
      factory: () => this._refresh(),
      frequency: { interval: options.interval, backoff: false, max: options.interval },
      name: 'datarus:host-status',
      standby: 'when-hidden'
    });
  }

  get view(): StatusView {
    return this._view;
  }

  /** Polls now, e.g. after the user asked for a model. */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  set interval(interval: number) {
    this._poll.frequency = { interval, backoff: false, max: interval };
  }

  dispose(): void {
    this._poll.dispose();
    super.dispose();
  }

  private async _refresh(): Promise<void> {
    try {
      this._render(viewOf(await this._fetch()));
    } catch (err) {
      const message = err instanceof HostError ? err.message : String(err);
      this._render({ kind: 'error', message });
    }
  }

  private _render(view: StatusView): void {
    this._view = view;
    const { label, title } = describe(view);
    this.node.textContent = label;
    this.node.title = title;
    this.node.setAttribute('data-datarus-status', view.kind);
  }

  private _view: StatusView = { kind: 'connecting' };
  private readonly _poll: Poll;
  private readonly _fetch: typeof fetchHostStatus;
}
