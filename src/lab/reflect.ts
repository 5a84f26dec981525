/**
 * Reflection: the model, in reflection mode, reads the selected cells (code and
 * truncated outputs) and writes a markdown cell below them: its reasoning in a
 * collapsible block, the answer visible, streamed as it is written, with
 * provenance linking it to the cells it reflects on.
 */
import type { Cell } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';

import { formatCell } from '../agent/context';
import type { AgentModel, NbOutput } from '../agent/types';
import { getProfile, parseReflection } from '../protocol';
import { newEpisodeId } from './analyze';

export interface ReflectOptions {
  maxTokens: number;
  temperature: number;
  grammar?: string;
  signal?: AbortSignal;
  /** The prompt profile whose reflection prompt to use; `generic` when absent. */
  profile?: string;
}

/** The markdown of a reflection: reasoning folded away, the answer in view. */
export function reflectionMarkdown(thinking: string, answer: string, streaming: boolean): string {
  const reasoning = thinking ? `<details${streaming && !answer ? ' open' : ''}><summary>Reasoning</summary>\n\n${thinking}\n\n</details>\n\n` : '';
  return `${reasoning}**Reflection.** ${answer || (streaming ? '_thinking…_' : '')}`.trim();
}

export async function reflect(panel: NotebookPanel, cells: readonly Cell[], model: AgentModel, options: ReflectOptions): Promise<string> {
  if (cells.length === 0) {
    throw new Error('select the cells to reflect on first');
  }
  const text = cells
    .map(cell =>
      formatCell(
        {
          cellType: cell.model.type as 'code' | 'markdown',
          source: cell.model.sharedModel.getSource(),
          outputs: cell.model.type === 'code' ? ((cell.model as any).outputs.toJSON() as NbOutput[]) : undefined
        },
        2000
      )
    )
    .join('\n\n');
  const notebook = panel.content;
  const last = Math.max(...cells.map(c => notebook.widgets.indexOf(c)));
  const shared = notebook.model!.sharedModel;
  const id = newEpisodeId().replace('ep-', 'reflect-');
  const cell = shared.insertCell(last + 1, {
    cell_type: 'markdown',
    source: reflectionMarkdown('', '', true),
    metadata: {
      datarus: { role: 'reflection', episode: id, reflectsOn: cells.map(c => c.model.id), model: model.name, created: new Date().toISOString() } as any
    }
  });
  let raw = '';
  const show = (streaming: boolean) => {
    const parsed = parseReflection(raw);
    // While the reasoning streams, show it; the answer appears once </think> is written.
    const thinking = parsed.thinking || (!/<\/think\s*>/i.test(raw) ? raw.replace(/<think\s*>/i, '').trim() : '');
    cell.setSource(reflectionMarkdown(thinking, /<\/think\s*>/i.test(raw) ? parsed.answer : '', streaming));
  };
  const reflection = getProfile(options.profile).reflection;
  try {
    const turn = await model.complete(
      {
        episodeId: id,
        messages: [
          { role: 'system', content: reflection.systemPrompt },
          { role: 'user', content: reflection.userMessage(text) }
        ],
        stop: [],
        maxTokens: options.maxTokens,
        temperature: options.temperature,
        grammar: options.grammar,
        signal: options.signal
      },
      chunk => {
        raw += chunk;
        show(true);
      }
    );
    raw = turn.text;
    show(false);
  } finally {
    await model.endEpisode?.(id);
  }
  const widget = notebook.widgets.find(w => w.model.id === cell.id);
  if (widget) {
    (widget as any).rendered = true;
  }
  return cell.id;
}
