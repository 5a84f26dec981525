/**
 * Reflection: the model, in reflection mode, reads the selected cells (code and
 * truncated outputs) and writes a markdown cell below them: its reasoning in a
 * collapsible block, the answer visible, streamed as it is written, with
 * provenance linking it to the cells it reflects on. While it streams, the
 * notebook shows its progress and a Stop button above the cells.
 */
import type { Cell } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';

import { reflectionMessages } from '../agent/reflection';
import { HostModel } from '../agent/hostModel';
import type { AgentModel } from '../agent/types';
import { newEpisodeId } from '../episode/ids';
import { parseReflection } from '../protocol';
import { contextCell, renderMarkdown } from './cellContent';
import { EpisodeBar } from './episodeBar';
import { MarkdownPart, safeMarkdown, untrusted } from '../episode/safeMarkdown';
import { provenanceMetadata } from './provenance';

export interface ReflectOptions {
  maxTokens: number;
  temperature: number;
  grammar?: string;
  signal?: AbortSignal;
  /**
   * The prompt profile whose reflection prompt to use; `generic` when absent. It may still be
   * on its way (read from the host's status), so that the progress bar shows at once.
   */
  profile?: string | Promise<string>;
}

/** A running reflection: stop it with `abort`, wait for its cell id with `done`. */
export interface Reflection {
  abort: () => void;
  done: Promise<string>;
}

/** The markdown of a reflection: reasoning folded away, the answer in view. */
export function reflectionMarkdown(thinking: string, answer: string, streaming: boolean, stopped = false): string {
  const parts: MarkdownPart[] = [];
  if (thinking) {
    parts.push(`<details${streaming && !answer ? ' open' : ''}><summary>Reasoning</summary>\n\n`, untrusted(thinking), '\n\n</details>\n\n');
  }
  parts.push('**Reflection.** ', answer ? untrusted(answer) : streaming ? '_thinking…_' : '');
  if (stopped) {
    parts.push(' _(stopped before the reflection was complete)_');
  }
  return safeMarkdown(parts).trim();
}

/** The reflection bar of each notebook: a new reflection replaces the last one's. */
const bars = new WeakMap<NotebookPanel, EpisodeBar>();

/** Starts a reflection with its progress bar in the notebook toolbar. */
export function startReflection(panel: NotebookPanel, cells: readonly Cell[], model: AgentModel, options: Omit<ReflectOptions, 'signal'>): Reflection {
  const abort = new AbortController();
  const bar = new EpisodeBar({ onStop: () => abort.abort() });
  bar.addClass('jp-DatarusReflectionBar');
  bar.text = 'Datarus · reflecting…';
  bars.get(panel)?.dispose();
  bars.set(panel, bar);
  const started = performance.now();
  let chunks = 0;
  const onChunk = () => {
    const seconds = (performance.now() - started) / 1000;
    bar.text = `Datarus · reflecting · ${++chunks} tokens${seconds > 0 ? ` · ${(chunks / seconds).toFixed(1)} tok/s` : ''}`;
  };
  panel.contentHeader.addWidget(bar);
  const onClose = () => abort.abort();
  panel.disposed.connect(onClose);
  const done = reflect(panel, cells, model, { ...options, signal: abort.signal }, onChunk).then(
    id => {
      bar.running = false;
      bar.text = abort.signal.aborted ? 'Datarus · reflection stopped' : `Datarus · reflected (${chunks} tokens)`;
      return id;
    },
    err => {
      bar.dispose();
      throw err;
    }
  );
  void done.finally(() => panel.disposed.disconnect(onClose)).catch(() => undefined);
  return { abort: () => abort.abort(), done };
}

export async function reflect(
  panel: NotebookPanel,
  cells: readonly Cell[],
  model: AgentModel,
  options: ReflectOptions,
  onChunk: () => void = () => undefined
): Promise<string> {
  if (cells.length === 0) {
    throw new Error('select the cells to reflect on first');
  }
  const notebook = panel.content;
  const last = Math.max(...cells.map(c => notebook.widgets.indexOf(c)));
  const shared = notebook.model!.sharedModel;
  const id = newEpisodeId('reflect');
  const cell = shared.insertCell(last + 1, {
    cell_type: 'markdown',
    source: reflectionMarkdown('', '', true),
    metadata: provenanceMetadata({ role: 'reflection', episode: id, reflectsOn: cells.map(c => c.model.id), model: model.name, created: new Date().toISOString() })
  });
  if (model instanceof HostModel) {
    await model.waitUntilReady(options.signal, () => cell.setSource(reflectionMarkdown('', '_waiting for the model host to load the model…_', true)));
  }
  let raw = '';
  const show = (streaming: boolean, stopped = false) => {
    const parsed = parseReflection(raw);
    // While the reasoning streams, show it; the answer appears once </think> is written.
    const thinking = parsed.thinking || (!/<\/think\s*>/i.test(raw) ? raw.replace(/<think\s*>/i, '').trim() : '');
    cell.setSource(reflectionMarkdown(thinking, /<\/think\s*>/i.test(raw) ? parsed.answer : '', streaming, stopped));
  };
  const messages = reflectionMessages(cells.map(cell => contextCell(cell.model)), await options.profile);
  try {
    const turn = await model.complete(
      {
        episodeId: id,
        messages,
        stop: [],
        maxTokens: options.maxTokens,
        temperature: options.temperature,
        grammar: options.grammar,
        signal: options.signal
      },
      chunk => {
        raw += chunk;
        show(true);
        onChunk();
      }
    );
    raw = turn.text || raw;
    show(false, turn.stopReason === 'abort');
  } finally {
    // Not awaited: a host that stopped answering must not hold the stopped reflection open.
    void model.endEpisode?.(id)?.catch(() => undefined);
  }
  const widget = notebook.widgets.find(w => w.model.id === cell.id);
  if (widget) {
    renderMarkdown(widget);
  }
  return cell.id;
}
