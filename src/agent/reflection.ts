/**
 * Reflection on cells (`<think>…</think>` then the answer): the messages a
 * reflection sends, from the cells as the model reads them, in the words of a
 * prompt profile. Reflect in JupyterLab and `%datarus_reflect` both send these.
 */
import { getProfile } from '../protocol';
import type { ChatMessage } from '../protocol/messages';
import { ContextCell, formatCell } from './context';

/** Characters of each cell's output the model reads. */
export const REFLECTION_OUTPUT_CHARS = 2000;

export function reflectionMessages(cells: readonly ContextCell[], profile?: string): ChatMessage[] {
  const reflection = getProfile(profile).reflection;
  const text = cells.map(cell => formatCell(cell, REFLECTION_OUTPUT_CHARS)).join('\n\n');
  return [
    { role: 'system', content: reflection.systemPrompt },
    { role: 'user', content: reflection.userMessage(text) }
  ];
}
