/**
 * Training data from logged episodes, in the shapes trainers load:
 *
 * - `tagged`: Datarus-tagged text, exactly what the model is trained on
 *   (steps, the harness's observations, the final `<stop_analysis>`);
 * - `sft`: chat `messages` (TRL, OpenAI fine-tuning): the conversation exactly
 *   as the model saw it, then its answer;
 * - `sft-split`: the same steps, but each observation in a user turn of its
 *   own, so an assistant-only loss never trains on tool output (with the
 *   `datarus-r1` profile the observation is inside the assistant's step);
 * - `grpo`: the prompt, plus the reference answer and the data files the
 *   episode read as extra columns (TRL passes extra columns to reward functions);
 * - `dpo`: prompt / chosen / rejected from the user's edits of agent cells;
 * - `kto`: prompt / completion / label from thumbs up and down;
 * - `ipynb`: one nbformat 4 notebook per episode.
 *
 * Every prompt (GRPO, DPO, KTO) is `conversation(episode, k)`
 * (src/episode/conversation.ts), the function the agent loop used to build the
 * messages of step k: byte for byte what the model was sent, which the
 * recorded `promptSha256` of each step confirms (a step the loop started for
 * the model, `prefill`, was sent that start too: `turnMessages`; its row's
 * completion holds the whole turn). Every row carries the
 * structural reward of its transcript. Pure: no I/O.
 */
import { ChatMessage, formatAnswer, formatObservation, formatStep, scoreText } from '../protocol';
import { conversation, episodeProfile, fullConversation, openingMessages } from './conversation';
import { answerSource, nbformatOutputs, questionSource, thoughtSource } from './notebookCells';
import type { Episode, EpisodeStep, StoredEpisode } from './types';

export const EXPORT_FORMATS = ['tagged', 'sft', 'sft-split', 'grpo', 'dpo', 'kto', 'ipynb'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportFilters {
  since?: string;
  until?: string;
  notebook?: string;
  model?: string;
  /** `up`/`down`: episodes with that rating (episode-level); `rated`: any rating at all. */
  feedback?: 'up' | 'down' | 'rated';
  minReward?: number;
  finished?: boolean;
  /** SFT learns from answers: it takes answered episodes only unless this is set (or `finished` says otherwise). */
  includeUnanswered?: boolean;
}

/** The filters a format applies: SFT defaults to answered episodes. */
export function filtersFor(format: ExportFormat, filters: ExportFilters = {}): ExportFilters {
  const sftDefault = (format === 'sft' || format === 'sft-split') && filters.finished === undefined && !filters.includeUnanswered;
  return sftDefault ? { ...filters, finished: true } : filters;
}

/** Steps whose code ran and raised an error or timed out. */
export function failedSteps(episode: Episode): number {
  return episode.steps.filter(s => s.status === 'error' || s.status === 'timeout').length;
}

/** Steps that were really executed (not protocol failures, not skipped). */
export function executedSteps(episode: Episode): EpisodeStep[] {
  return episode.steps.filter(s => s.status !== 'invalid' && s.status !== 'skipped');
}

/** The whole episode as Datarus-tagged text: steps with their observations, then the answer. */
export function taggedTranscript(episode: Episode): string {
  const parts: string[] = [];
  for (const step of executedSteps(episode)) {
    parts.push(formatStep({ thought: step.thought, code: step.code }), formatObservation(step.observation));
  }
  if (episode.answer) {
    parts.push(formatAnswer(episode.answer));
  }
  return parts.join('\n');
}

export function structuralRewardOf(episode: Episode): number {
  return scoreText(taggedTranscript(episode), { harnessObservations: true }).score;
}

/**
 * The `sft-split` messages: each executed step as the model wrote it in an
 * assistant turn, its observation and the follow-up in the next user turn,
 * for trainers that mask the loss to assistant turns.
 */
export function splitObservationMessages(episode: Episode): ChatMessage[] {
  const profile = episodeProfile(episode);
  const messages: ChatMessage[] = [
    { role: 'system', content: profile.systemPrompt },
    { role: 'user', content: profile.firstUserMessage(episode.question, episode.context) }
  ];
  for (const step of executedSteps(episode)) {
    messages.push({ role: 'assistant', content: formatStep({ thought: step.thought, code: step.code }) });
    const next = step.error ? profile.afterError(step.error.ename) : profile.afterStep;
    messages.push({ role: 'user', content: `${formatObservation(step.observation)}\n${next}` });
  }
  if (episode.answer) {
    messages.push({ role: 'assistant', content: formatAnswer(episode.answer) });
  }
  return messages;
}

const DATA_FILE = /\b(?:read_(?:csv|parquet|json|excel|feather|table|sql)|open|load|loadtxt|genfromtxt)\(\s*(?:r|f)?["']([^"'\n]+\.(?:csv|tsv|parquet|json|jsonl|xlsx?|feather|txt|db|sqlite|h5|npy|npz|pkl|pickle))["']/g;

/** Data files the episode's code read, for reward functions that check the analysis against the data. */
export function dataFiles(episode: Episode): string[] {
  const files = new Set<string>();
  for (const step of executedSteps(episode)) {
    for (const match of step.code.matchAll(DATA_FILE)) {
      files.add(match[1]);
    }
  }
  return [...files].sort();
}

function episodeRating(stored: StoredEpisode): 'up' | 'down' | null {
  const ratings = stored.feedback.filter(f => f.step === null);
  return ratings.length ? ratings[ratings.length - 1].rating : null;
}

/** Applies the filters and drops duplicate transcripts (the same profile, question and steps logged twice). */
export function selectEpisodes(stored: StoredEpisode[], filters: ExportFilters = {}): StoredEpisode[] {
  const seen = new Set<string>();
  return stored.filter(s => {
    const e = s.episode;
    if (filters.since && e.startedAt < filters.since) {
      return false;
    }
    if (filters.until && e.startedAt > filters.until) {
      return false;
    }
    if (filters.notebook && e.notebook !== filters.notebook) {
      return false;
    }
    if (filters.model && e.model !== filters.model) {
      return false;
    }
    if (filters.finished !== undefined && (e.status === 'answered') !== filters.finished) {
      return false;
    }
    if (filters.feedback) {
      const rating = episodeRating(s);
      if (filters.feedback === 'rated' ? s.feedback.length === 0 : rating !== filters.feedback) {
        return false;
      }
    }
    if (filters.minReward !== undefined && structuralRewardOf(e) < filters.minReward) {
      return false;
    }
    // The profile is part of what makes a transcript: the same steps under another profile were other prompts.
    const key = `${episodeProfile(e).name}\u0000${e.question}\u0000${taggedTranscript(e)}`;
    if (seen.has(key)) {
      return false;
    }
    seen.add(key);
    return true;
  });
}

/**
 * Fields to add to an episode's rows, by episode id (the judge's
 * `reward_parts` and `judge`, from `datarus export --judge`).
 */
export type RowAnnotations = ReadonlyMap<string, Record<string, unknown>>;

function baseFields(stored: StoredEpisode, annotations?: RowAnnotations) {
  const e = stored.episode;
  return {
    episode_id: e.id,
    model: e.model,
    prompt_profile: episodeProfile(e).name,
    status: e.status,
    structural_reward: structuralRewardOf(e),
    failed_steps: failedSteps(e),
    // Whether the answer's values appear in what the episode printed: null when there is no answer or it was logged before the check.
    answer_grounded: e.answer ? (e.answerGrounding?.grounded ?? null) : null,
    ...annotations?.get(e.id)
  };
}

/** Rows of a JSONL format (every format but `ipynb`). */
export function exportRows(stored: StoredEpisode[], format: Exclude<ExportFormat, 'ipynb'>, annotations?: RowAnnotations): object[] {
  const rows: object[] = [];
  for (const s of stored) {
    const e = s.episode;
    const common = baseFields(s, annotations);
    switch (format) {
      case 'tagged':
        rows.push({ ...common, question: e.question, text: taggedTranscript(e) });
        break;
      case 'sft':
        rows.push({ ...common, messages: fullConversation(e) });
        break;
      case 'sft-split':
        rows.push({ ...common, messages: splitObservationMessages(e) });
        break;
      case 'grpo':
        rows.push({ ...common, prompt: openingMessages(e), answer: e.answer?.text ?? '', data_files: dataFiles(e) });
        break;
      case 'dpo': {
        const pair = (step: EpisodeStep, chosen: string, rejected: string) => ({
          ...common,
          step: step.index,
          prompt: conversation(e, step.index),
          chosen: [{ role: 'assistant', content: formatStep({ thought: step.thought, code: chosen }) }],
          rejected: [{ role: 'assistant', content: formatStep({ thought: step.thought, code: rejected }) }]
        });
        // Edits made at approval time (the cell ran edited), the harness's rewrites (a `%pip` for a `!pip`) and
        // edits made afterwards are all preferences.
        for (const step of e.steps) {
          if (step.modelCode !== undefined && step.modelCode !== step.code) {
            rows.push(pair(step, step.code, step.modelCode));
          }
        }
        for (const edit of s.edits) {
          const step = e.steps.find(st => st.index === edit.step);
          if (step && edit.original !== edit.edited) {
            rows.push(pair(step, edit.edited, edit.original));
          }
        }
        break;
      }
      case 'kto':
        for (const f of s.feedback) {
          if (f.step === null) {
            if (e.answer) {
              rows.push({ ...common, step: -1, prompt: conversation(e), completion: [{ role: 'assistant', content: formatAnswer(e.answer) }], label: f.rating === 'up' });
            }
            continue;
          }
          const step = e.steps.find(st => st.index === f.step);
          if (step && step.status !== 'invalid') {
            rows.push({ ...common, step: f.step, prompt: conversation(e, f.step), completion: [{ role: 'assistant', content: formatStep({ thought: step.thought, code: step.code }) }], label: f.rating === 'up' });
          }
        }
        break;
    }
  }
  return rows;
}

/** One episode as an nbformat 4.5 notebook, with provenance on every cell. */
export function toNotebook(stored: StoredEpisode, annotations?: RowAnnotations): object {
  const e = stored.episode;
  let n = 0;
  const id = () => `datarus-${(++n).toString(36).padStart(4, '0')}`;
  const provenance = (step: number | null, role: string) => ({ datarus: { episode: e.id, step, role, model: e.model } });
  const cells: object[] = [{ id: id(), cell_type: 'markdown', metadata: provenance(null, 'question'), source: questionSource(e.question) }];
  let count = 0;
  for (const step of executedSteps(e)) {
    cells.push({ id: id(), cell_type: 'markdown', metadata: provenance(step.index, 'thought'), source: thoughtSource(step.index, step.thought, true) });
    cells.push({ id: id(), cell_type: 'code', execution_count: ++count, metadata: provenance(step.index, 'code'), source: step.code, outputs: nbformatOutputs(step.outputs) });
  }
  if (e.answer) {
    cells.push({ id: id(), cell_type: 'markdown', metadata: provenance(null, 'answer'), source: answerSource(e.answer.text, '') });
  }
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      language_info: { name: 'python' },
      datarus: { ...baseFields(stored, annotations), question: e.question, startedAt: e.startedAt }
    },
    cells
  };
}
