/**
 * The notebook context the model reads before the question: the data files the
 * question names (columns, dtypes, rows), the kernel's DataFrames (names,
 * shapes, dtypes, a few rows), and recent cells with truncated outputs, within
 * a budget. Pure: the lab gathers the facts, this formats them.
 */
import { DataFiles, formatDataFiles } from './dataFiles';
import { renderOutput, truncateMiddle } from './observation';
import type { NbOutput } from './types';

export interface ContextCell {
  cellType: 'code' | 'markdown' | 'raw';
  source: string;
  outputs?: NbOutput[];
}

export interface FrameInfo {
  name: string;
  shape: number[];
  dtypes: Record<string, string>;
  head: string;
}

/**
 * Python expression, run silently as a `user_expressions` entry (no cell, no
 * history): JSON describing the DataFrames in the kernel. The result is wrapped
 * in an object whose repr is the JSON itself, so `text/plain` parses as JSON.
 */
export const FRAMES_EXPRESSION =
  "(lambda j: type('DatarusJSON', (), {'__repr__': lambda self: j})())(__import__('json').dumps([" +
  "{'name': k, 'shape': list(v.shape), 'dtypes': {str(c): str(t) for c, t in list(v.dtypes.items())[:30]}, " +
  "'head': v.head(3).to_string(max_cols=12, max_colwidth=30)} for k, v in list(globals().items()) " +
  "if not k.startswith('_') and type(v).__name__ == 'DataFrame'][:10]))";

/** About four characters a token for English and code: the budget is in tokens, the cut in characters. */
const CHARS_PER_TOKEN = 4;

export function formatFrames(frames: FrameInfo[]): string {
  if (frames.length === 0) {
    return '';
  }
  const parts = frames.map(f => {
    const dtypes = Object.entries(f.dtypes)
      .map(([c, t]) => `${c}: ${t}`)
      .join(', ');
    return `- ${f.name}: shape ${f.shape.join('×')}; columns ${dtypes}\n${indent(f.head)}`;
  });
  return `DataFrames in the kernel:\n${parts.join('\n')}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map(line => `    ${line}`)
    .join('\n');
}

export function formatCell(cell: ContextCell, outputLimit: number): string {
  if (cell.cellType !== 'code') {
    return `[markdown]\n${cell.source.trim()}`;
  }
  const output = (cell.outputs ?? []).map(renderOutput).filter(Boolean).join('\n').trim();
  return `[code]\n${cell.source.trim()}${output ? `\n[output]\n${truncateMiddle(output, outputLimit)}` : ''}`;
}

/**
 * The context text: the data files and the kernel's data
 * first (they matter most), then as many of the most recent cells as fit,
 * oldest first. Empty when there is nothing.
 */
export function buildContext(cells: ContextCell[], frames: FrameInfo[], budgetTokens: number, files: DataFiles = { source: 'question', files: [] }): string {
  const budget = budgetTokens * CHARS_PER_TOKEN;
  const fileText = truncateMiddle(formatDataFiles(files), Math.floor(budget / 4));
  const data = truncateMiddle(formatFrames(frames), Math.floor(budget / 2) - fileText.length);
  let remaining = budget - data.length - fileText.length;
  const picked: string[] = [];
  for (let i = cells.length - 1; i >= 0 && remaining > 0; i--) {
    if (!cells[i].source.trim()) {
      continue;
    }
    const text = formatCell(cells[i], 500);
    if (text.length > remaining) {
      if (picked.length === 0) {
        picked.unshift(truncateMiddle(text, remaining));
      }
      break;
    }
    picked.unshift(text);
    remaining -= text.length + 2;
  }
  const sections = [];
  if (fileText) {
    sections.push(fileText);
  }
  if (data) {
    sections.push(data);
  }
  if (picked.length) {
    sections.push(`Recent notebook cells:\n${picked.join('\n\n')}`);
  }
  return sections.join('\n\n');
}
