/**
 * The notebook context the model reads before the question: the data files the
 * question names (columns, dtypes, rows), the kernel's DataFrames (names,
 * shapes, dtypes, a few rows), and recent cells with truncated outputs, within
 * a budget. Pure: the lab gathers the facts, this formats them.
 */
import { DataFiles, formatDataFiles } from './dataFiles';
import { renderOutput, truncateMiddle } from './observation';
import { cleanLine, cleanText, fenceData, pyRepr } from './untrusted';
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

/** A frame's name is a Python identifier; its first rows a bounded table. */
const MAX_NAME_CHARS = 80;
const MAX_HEAD_CHARS = 1200;

const FENCE_CHARS = fenceData('x').length - 1;

/** About four characters a token for English and code: the budget is in tokens, the cut in characters. */
const CHARS_PER_TOKEN = 4;

export function formatFrames(frames: FrameInfo[]): string {
  if (frames.length === 0) {
    return '';
  }
  const parts = frames.map(f => {
    const dtypes = Object.entries(f.dtypes ?? {})
      .map(([c, t]) => `${pyRepr(c)}: ${cleanLine(String(t), 40)}`)
      .join(', ');
    const shape = Array.isArray(f.shape) ? f.shape.map(Number).join('×') : '?';
    return `- ${cleanLine(String(f.name), MAX_NAME_CHARS)}: shape ${shape}; columns ${dtypes}\n${indent(cleanText(String(f.head ?? ''), MAX_HEAD_CHARS))}`;
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
  const source = cleanText(cell.source, 20000).trim();
  if (cell.cellType !== 'code') {
    return `[markdown]\n${source}`;
  }
  const output = cleanText((cell.outputs ?? []).map(renderOutput).filter(Boolean).join('\n'), 20000).trim();
  return `[code]\n${source}${output ? `\n[output]\n${truncateMiddle(output, outputLimit)}` : ''}`;
}

/**
 * The context text: the data files and the kernel's data
 * first (they matter most), then as many of the most recent cells as fit,
 * oldest first, fenced as data (untrusted.ts). Empty when there is nothing.
 */
export function buildContext(cells: ContextCell[], frames: FrameInfo[], budgetTokens: number, files: DataFiles = { source: 'question', files: [] }): string {
  // The fence and its notice count against the budget too.
  const budget = budgetTokens * CHARS_PER_TOKEN - FENCE_CHARS;
  const fileText = truncateMiddle(formatDataFiles(files), Math.floor(budget / 4));
  const data = truncateMiddle(formatFrames(frames), Math.floor(budget / 2) - fileText.length);
  const cellsHeading = 'Recent notebook cells:\n';
  let remaining = budget - data.length - fileText.length - cellsHeading.length - 4;
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
    sections.push(`${cellsHeading}${picked.join('\n\n')}`);
  }
  return fenceData(sections.join('\n\n'));
}
