/**
 * The status-bar item: which model the host has loaded and on what backend,
 * or that it is loading, or down and why. It polls the host's status.
 */
import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { HostError } from './client';
import { describe, restartNote, StatusView, viewOf, withProcessState } from './statusView';
import type { HostProcessState, IDatarusClient } from './tokens';

export class HostStatusItem extends Widget {
  constructor(options: { interval: number; client: Pick<IDatarusClient, 'status' | 'processState'> }) {
    super();
    this.addClass('jp-DatarusStatus');
    this.node.setAttribute('data-datarus-status', 'connecting');
    this._client = options.client;
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
    const [status, process] = await Promise.all([
      this._client.status().then(
        (value): StatusView => viewOf(value),
        (err): StatusView => ({ kind: 'error', message: err instanceof HostError ? err.message : String(err) })
      ),
      this._client.processState()
    ]);
    this._process = process;
    this._render(withProcessState(status, process));
  }

  private _render(view: StatusView): void {
    this._view = view;
    const { label, title } = describe(view);
    const note = restartNote(this._process);
    this.node.textContent = label;
    this.node.title = note ? `${title}\n${note}` : title;
    this.node.setAttribute('data-datarus-status', view.kind);
  }

  private _view: StatusView = { kind: 'connecting' };
  private _process: HostProcessState | null = null;
  private readonly _poll: Poll;
  private readonly _client: Pick<IDatarusClient, 'status' | 'processState'>;
}
