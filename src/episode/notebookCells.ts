/**
 * The cells an Analyze episode writes, as text and metadata: the thought of a
 * step as a markdown cell, its code, and the answer, each carrying
 * `metadata.datarus` (episode, step, role, model, time). The notebook writer
 * in the browser (src/lab/notebookWriter.ts) writes them into the open
 * notebook as the episode runs; `analyzeNotebook` writes a whole recorded
 * episode into a notebook file (`datarus run --notebook`), so both read alike.
 *
 * Pure: no DOM, no Node.
 */
import type { AnswerFix } from '../protocol';
import { deliveredAnswer } from './answer';
import { MarkdownPart, safeMarkdown, untrusted } from './safeMarkdown';
import type { Episode, NbOutput } from './types';

/** The provenance of a cell of an Analyze episode (`metadata.datarus`): a step's thought or code, or the answer (step null). */
export type StepProvenance = {
  episode: string;
  step: number | null;
  role: 'thought' | 'code' | 'answer';
  model: string;
  created: string;
  /** On a code cell the user chose not to run. */
  skipped?: boolean;
  /** On an answer: false when values it states appear in no output of the episode. */
  grounded?: boolean;
};

/** The markdown of a step's thought; `done: false` while it still streams. */
export function thoughtSource(step: number, text: string, done: boolean): string {
  return safeMarkdown([`**Step ${step + 1}** · ${done ? '' : '_thinking…_ '}`, untrusted(text)]).trimEnd();
}

/** A thought cut off before its step was complete. */
export function unfinishedThoughtSource(step: number, text: string): string {
  return safeMarkdown([`**Step ${step + 1}** · `, untrusted(text), ' _(stopped before this step was complete)_']);
}

/** The markdown of the answer, its reasoning folded away. */
export function answerSource(text: string, thought: string, unsupported: string[] = [], fixes: AnswerFix[] = []): string {
  const parts: MarkdownPart[] = ['**Answer.** ', untrusted(text)];
  // `unsupported`: values the answer states that no output showed; the cell then carries a caution.
  if (unsupported.length) {
    parts.push('\n\n> **Caution:** no cell printed ', untrusted(unsupported.join(', ')), '. Check this answer against the data before relying on it.');
  }
  // What the loop brought into the asked form is said, so the reader knows the model wrote it otherwise.
  if (fixes.length) {
    parts.push('\n\n*Brought into the asked form: ', untrusted(fixes.map(f => `${f.from} → ${f.to} (${f.why})`).join('; ')), '.*');
  }
  if (thought) {
    parts.push('\n\n<details><summary>Reasoning</summary>\n\n', untrusted(thought), '\n\n</details>');
  }
  return safeMarkdown(parts);
}

/** The question as the first cell of an episode's notebook. */
export function questionSource(question: string): string {
  return safeMarkdown(['**Question.** ', untrusted(question)]);
}

/** Outputs as nbformat 4 requires them; image data the log did not keep becomes a short note. */
export function nbformatOutputs(outputs: NbOutput[] | undefined): object[] {
  return (outputs ?? []).map(o => {
    switch (o.output_type) {
      case 'stream':
        return { output_type: 'stream', name: o.name ?? 'stdout', text: o.text ?? '' };
      case 'error':
        return { output_type: 'error', ename: o.ename ?? 'Error', evalue: o.evalue ?? '', traceback: o.traceback ?? [] };
      default: {
        const data: Record<string, unknown> = {};
        for (const [mime, value] of Object.entries(o.data ?? {})) {
          if (typeof value === 'string' || (Array.isArray(value) && value.every(v => typeof v === 'string')) || mime.endsWith('json')) {
            data[mime] = value;
          }
        }
        if (Object.keys(data).length === 0) {
          data['text/plain'] = '[image not kept in the episode log]';
        }
        return o.output_type === 'execute_result'
          ? { output_type: 'execute_result', execution_count: o.execution_count ?? null, data, metadata: o.metadata ?? {} }
          : { output_type: 'display_data', data, metadata: o.metadata ?? {} };
      }
    }
  });
}

/**
 * A recorded episode as the notebook Analyze would have left: the question as
 * a heading cell, then per step its thought and its code cell with outputs
 * (steps that broke the protocol wrote no cells), then the answer. Skipped
 * steps keep their code cell, marked `skipped` as Analyze marks it.
 */
export function analyzeNotebook(episode: Episode): object {
  let n = 0;
  const id = () => `datarus-${(++n).toString(36).padStart(4, '0')}`;
  const meta = (step: number | null, role: StepProvenance['role'], created: string, marks: Pick<StepProvenance, 'skipped' | 'grounded'> = {}) => {
    const provenance: StepProvenance = { episode: episode.id, step, role, model: episode.model, created, ...marks };
    return { datarus: provenance };
  };
  const cells: object[] = [{ id: id(), cell_type: 'markdown', metadata: {}, source: questionSource(episode.question) }];
  let count = 0;
  for (const step of episode.steps) {
    if (step.status === 'invalid') {
      continue;
    }
    const skipped = step.status === 'skipped';
    cells.push({ id: id(), cell_type: 'markdown', metadata: meta(step.index, 'thought', step.startedAt), source: thoughtSource(step.index, step.thought, true) });
    cells.push({
      id: id(),
      cell_type: 'code',
      execution_count: skipped ? null : ++count,
      metadata: meta(step.index, 'code', step.startedAt, skipped ? { skipped } : {}),
      source: step.code,
      outputs: skipped ? [] : nbformatOutputs(step.outputs)
    });
  }
  if (episode.answer) {
    const grounding = episode.answerGrounding;
    cells.push({
      id: id(),
      cell_type: 'markdown',
      metadata: meta(null, 'answer', episode.endedAt ?? episode.startedAt, grounding?.grounded === false ? { grounded: false } : {}),
      source: answerSource(deliveredAnswer(episode) ?? episode.answer.text, episode.answer.thought, grounding?.unsupported ?? [], episode.answerForm?.fixes)
    });
  }
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      language_info: { name: 'python' }
    },
    cells
  };
}
