/**
 * Writes an episode into the open notebook: the thought as a markdown cell
 * (updated while it streams), the code cell before it runs, and the answer.
 * Every cell carries `metadata.datarus` (episode, step, role, model, time), so
 * the saved notebook is a faithful record of the episode.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';

import { answerSource, thoughtSource, unfinishedThoughtSource } from '../episode/notebookCells';
import type { AnswerFix } from '../protocol';
import { renderMarkdown } from './cellContent';
import { markSkippedInMetadata, provenanceMetadata, StepProvenance } from './provenance';

/** The CSS class of a code cell the user skipped (see `markSkippedCells`). */
export const SKIPPED_CLASS = 'jp-DatarusSkipped';

export class NotebookClosedError extends Error {
  constructor() {
    super('the notebook was closed');
  }
}

export class NotebookWriter {
  constructor(
    private readonly _panel: NotebookPanel,
    private readonly _episode: string,
    private readonly _model: string
  ) {
    // Cells go below the active cell when Analyze starts, then one after another.
    this._next = _panel.content.activeCellIndex + 1;
    if (_panel.content.widgets.length === 0 || this._next < 0) {
      this._next = _panel.content.widgets.length;
    }
  }

  /** Creates or updates the thought cell of a step. */
  thought(step: number, text: string, done: boolean): void {
    const source = thoughtSource(step, text, done);
    if (done) {
      this._unfinished.delete(step);
    } else {
      this._unfinished.set(step, text);
    }
    const id = this._thoughts.get(step);
    if (id !== undefined) {
      this._setSource(id, source);
      return;
    }
    this._thoughts.set(step, this._insert('markdown', source, { step, role: 'thought' }));
  }

  /** Inserts the code cell of a step (not run yet) and returns its id. */
  code(step: number, code: string): string {
    this.renderThought(step);
    const id = this._insert('code', code, { step, role: 'code' });
    this._codes.set(step, id);
    return id;
  }

  codeCellId(step: number): string | undefined {
    return this._codes.get(step);
  }

  /**
   * Inserts the answer cell. `unsupported`: values the answer states that no
   * output showed; the cell then carries a caution (and `grounded: false`).
   * `fixes`: what was brought into the asked form without the model.
   */
  answer(text: string, thought: string, unsupported: string[] = [], fixes: AnswerFix[] = []): void {
    const where = { step: null, role: 'answer' as const, ...(unsupported.length ? { grounded: false } : {}) };
    const id = this._insert('markdown', answerSource(text, thought, unsupported, fixes), where);
    this._renderMarkdown(id);
  }

  /** Renders the markdown cells written so far, so they read as text, not source. */
  renderThought(step: number): void {
    const id = this._thoughts.get(step);
    if (id) {
      this._renderMarkdown(id);
    }
  }

  /**
   * Ends the thought cells still marked "thinking…" when the episode ended mid-turn:
   * an empty one is removed, one with text keeps it and says the step was cut short.
   */
  finishThoughts(): void {
    for (const [step, text] of this._unfinished) {
      const id = this._thoughts.get(step)!;
      if (text.trim()) {
        this._setSource(id, unfinishedThoughtSource(step, text));
        this._renderMarkdown(id);
      } else {
        this._delete(id);
        this._thoughts.delete(step);
      }
    }
    this._unfinished.clear();
  }

  /** Marks a step's code cell as skipped by the user: in its metadata and visibly. */
  markSkipped(id: string): void {
    const cell = this._find(id);
    if (!cell) {
      return;
    }
    markSkippedInMetadata(cell.model);
    cell.addClass(SKIPPED_CLASS);
  }

  /** The current source of a cell the writer created (the user may have edited it). */
  source(id: string): string {
    const cell = this._find(id);
    return cell ? cell.model.sharedModel.getSource() : '';
  }

  private _insert(type: 'markdown' | 'code', source: string, where: Pick<StepProvenance, 'step' | 'role' | 'grounded'>): string {
    if (this._panel.isDisposed) {
      throw new NotebookClosedError();
    }
    const provenance: StepProvenance = { episode: this._episode, step: where.step, role: where.role, model: this._model, created: new Date().toISOString() };
    if (where.grounded === false) {
      provenance.grounded = false;
    }
    const shared = this._panel.content.model!.sharedModel;
    const index = Math.min(this._next, shared.cells.length);
    const cell = shared.insertCell(index, { cell_type: type, source, metadata: provenanceMetadata(provenance) });
    this._next = index + 1;
    // Follow the episode in command mode: in edit mode an active markdown cell would show its source.
    this._panel.content.mode = 'command';
    this._panel.content.activeCellIndex = index;
    return cell.id;
  }

  private _setSource(id: string, source: string): void {
    const cell = this._find(id);
    if (cell && cell.model.sharedModel.getSource() !== source) {
      cell.model.sharedModel.setSource(source);
    }
  }

  private _delete(id: string): void {
    const shared = this._panel.isDisposed ? null : this._panel.content.model!.sharedModel;
    const index = shared ? shared.cells.findIndex(c => c.id === id) : -1;
    if (shared && index >= 0) {
      shared.deleteCell(index);
      if (index < this._next) {
        this._next--;
      }
    }
  }

  private _renderMarkdown(id: string): void {
    const cell = this._find(id);
    if (cell) {
      renderMarkdown(cell);
    }
  }

  private _find(id: string) {
    if (this._panel.isDisposed) {
      return undefined;
    }
    return this._panel.content.widgets.find(w => w.model.id === id);
  }

  private _next: number;
  private readonly _thoughts = new Map<number, string>();
  private readonly _codes = new Map<number, string>();
  /** Steps whose thought is still streaming, with the text so far. */
  private readonly _unfinished = new Map<number, string>();
}
