/**
 * Notebook cells as the agent reads them (source and outputs), and rendering
 * the markdown cells Datarus writes: one place for what the cell widgets do
 * not type.
 */
import { Cell, ICellModel, isCodeCellModel, MarkdownCell } from '@jupyterlab/cells';
import type { ICodeCellModel } from '@jupyterlab/cells';

import type { ContextCell } from '../agent/context';
import type { NbOutput } from '../agent/types';

/** A code cell's outputs, as nbformat stores them. */
export function cellOutputs(model: ICodeCellModel): NbOutput[] {
  // The output area's JSON is nbformat's IOutput, whose `output_type` is typed as any string.
  return model.outputs.toJSON() as NbOutput[];
}

/** A cell as the agent's context reads it. */
export function contextCell(model: ICellModel): ContextCell {
  return {
    cellType: model.type === 'code' || model.type === 'markdown' ? model.type : 'raw',
    source: model.sharedModel.getSource(),
    outputs: isCodeCellModel(model) ? cellOutputs(model) : undefined
  };
}

/** Shows a markdown cell rendered (as text, not source); other cells are left as they are. */
export function renderMarkdown(cell: Cell): void {
  if (cell.model.type === 'markdown') {
    (cell as MarkdownCell).rendered = true;
  }
}
