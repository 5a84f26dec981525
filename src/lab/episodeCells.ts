/**
 * Cells of one episode, found by their `metadata.datarus.episode`: removing
 * them all in one undoable step, and marking the ones the user skipped.
 */
import type { Notebook } from '@jupyterlab/notebook';

import { SKIPPED_CLASS } from './notebookWriter';
import { provenanceOf } from './provenance';

function provenanceAt(notebook: Notebook, index: number) {
  return provenanceOf(notebook.widgets[index]?.model);
}

/** The episode the active cell belongs to, if Datarus wrote it. */
export function activeEpisode(notebook: Notebook): string | null {
  return provenanceAt(notebook, notebook.activeCellIndex)?.episode ?? null;
}

/** Removes every cell of the episode in one transaction, so one undo brings them all back. Returns how many. */
export function removeEpisodeCells(notebook: Notebook, episode: string): number {
  const shared = notebook.model?.sharedModel;
  if (!shared) {
    return 0;
  }
  const indexes = notebook.widgets.map((_, i) => i).filter(i => provenanceAt(notebook, i)?.episode === episode);
  if (indexes.length === 0) {
    return 0;
  }
  // A step of its own in the undo history, not merged with the episode's last edit (YNotebook's Yjs undo manager).
  const history = (shared as { undoManager?: { stopCapturing(): void } }).undoManager;
  history?.stopCapturing();
  shared.transact(() => {
    for (const index of indexes.reverse()) {
      shared.deleteCell(index);
    }
  });
  history?.stopCapturing();
  return indexes.length;
}

/** Gives skipped code cells their visible marker (the class does not survive a reload; the metadata does). */
export function markSkippedCells(notebook: Notebook): void {
  notebook.widgets.forEach((cell, i) => {
    cell.toggleClass(SKIPPED_CLASS, provenanceOf(cell.model)?.skipped === true);
  });
}
