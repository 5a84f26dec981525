/**
 * The bar a notebook shows while Datarus works in it: step of max, tokens/s,
 * a Stop button, and, when approval is on, Run / Skip / Allow the rest for the
 * code cell waiting below. Non-modal, so the user can edit that cell first.
 * A cell the code policy flagged (src/agent/codePolicy.ts) is asked about with
 * its reason, whatever the approval mode, and offers no "Allow the rest".
 * Once the episode has ended it keeps the outcome, offers to remove the
 * episode's cells, and can be dismissed.
 */
import { Widget } from '@lumino/widgets';

export type ApprovalChoice = 'run' | 'skip' | 'stop' | 'allow-rest';

export interface EpisodeBarActions {
  onStop: () => void;
  /** Offered once the episode has ended (an Analyze episode; Reflect has none). */
  onRemoveCells?: () => void;
}

export class EpisodeBar extends Widget {
  constructor(actions: EpisodeBarActions) {
    super();
    this.addClass('jp-DatarusEpisodeBar');
    this._label = document.createElement('span');
    this._label.className = 'jp-DatarusEpisodeBar-label';
    this._approval = document.createElement('span');
    this._approval.className = 'jp-DatarusEpisodeBar-approval';
    this._stop = button('Stop', 'jp-mod-warn', 'Stop the model and interrupt the kernel', actions.onStop);
    this._stop.classList.add('jp-DatarusEpisodeBar-stop');
    this._ended = document.createElement('span');
    this._ended.className = 'jp-DatarusEpisodeBar-ended';
    if (actions.onRemoveCells) {
      this._ended.append(button('Remove cells', 'jp-mod-reject', "Remove this episode's cells from the notebook (Undo brings them back)", actions.onRemoveCells));
    }
    const dismiss = button('✕', 'jp-mod-minimal', 'Dismiss', () => this.dispose());
    dismiss.classList.add('jp-DatarusEpisodeBar-dismiss');
    dismiss.setAttribute('aria-label', 'Dismiss');
    this._ended.append(dismiss);
    this.node.append(this._label, this._approval, this._stop, this._ended);
    this.running = true;
  }

  set running(running: boolean) {
    // `hidden` loses to the buttons' own display style.
    this._stop.style.display = running ? '' : 'none';
    this._ended.style.display = running ? 'none' : '';
    this.node.dataset.state = running ? 'running' : 'ended';
  }

  /** A long text is cut to the bar's width; the whole text stays in its tooltip. */
  set text(text: string) {
    this._label.textContent = text;
    this._label.title = text;
  }

  get text(): string {
    return this._label.textContent ?? '';
  }

  /**
   * Shows the approval buttons and resolves with the user's choice; `risk`, when the
   * code policy flagged the cell, says why it waits ("this cell opens a network connection to …").
   */
  askApproval(risk?: string): Promise<ApprovalChoice> {
    this.node.dataset.state = 'approval';
    if (risk) {
      this.node.dataset.risk = 'true';
    }
    return new Promise(resolve => {
      const choose = (choice: ApprovalChoice) => () => {
        this._approval.replaceChildren();
        this.node.dataset.state = 'running';
        delete this.node.dataset.risk;
        resolve(choice);
      };
      const buttons = [
        button('Run', 'jp-mod-accept', 'Run the cell below as it is now (edit it first if you like)', choose('run')),
        button('Skip', 'jp-mod-reject', 'Do not run this cell; the model continues', choose('skip'))
      ];
      if (risk) {
        const why = document.createElement('span');
        why.className = 'jp-DatarusEpisodeBar-risk';
        why.textContent = `This cell ${risk}.`;
        why.title = why.textContent;
        this._approval.replaceChildren(why, ...buttons);
      } else {
        this._approval.replaceChildren(
          ...buttons,
          button('Allow the rest', 'jp-mod-accept', 'Run this and every later cell of this episode without asking', choose('allow-rest'))
        );
      }
      this._pending = choose('stop');
    });
  }

  /** Ends a pending approval as a stop (the Stop button or the notebook closing). */
  cancelApproval(): void {
    this._pending?.();
    this._pending = null;
  }

  private readonly _label: HTMLSpanElement;
  private readonly _approval: HTMLSpanElement;
  private readonly _stop: HTMLButtonElement;
  private readonly _ended: HTMLSpanElement;
  private _pending: (() => void) | null = null;
}

function button(label: string, kind: string, title: string, onClick: () => void): HTMLButtonElement {
  const node = document.createElement('button');
  node.className = `jp-Button jp-mod-styled jp-mod-small ${kind}`;
  node.textContent = label;
  node.title = title;
  node.addEventListener('click', onClick);
  return node;
}
