/**
 * The Analyze plugin: the command (toolbar button, palette, shortcut) that asks
 * a question and lets Datarus work in the current notebook, and Stop.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, Notification, showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { LabIcon } from '@jupyterlab/ui-components';

import { HostModel } from '../agent/hostModel';
import { OpenAIModel } from '../agent/openaiModel';
import type { AgentModel } from '../agent/types';
import type { ExportFormat } from '../contract';
import { AnalyzeSession, promptProfileFor } from './analyze';
import { showApprovalNotice } from './approvalNotice';
import { askQuestion } from './questionDialog';
import { activeEpisode, markSkippedCells, removeEpisodeCells } from './episodeCells';
import { provenanceOf } from './provenance';
import { Reflection, startReflection } from './reflect';
import { AgentSettings, loadSettings } from './settings';
import { IDatarusClient } from './tokens';

export const AGENT_PLUGIN_ID = 'datarus-jupyterlab:agent';
const RECENT_KEY = 'datarus-jupyterlab:recent-questions';
const MAX_RECENT = 10;

export const analyzeIcon = new LabIcon({
  name: 'datarus:analyze',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" ' +
    'd="M3 17h2v4H3zm4-5h2v9H7zm4-4h2v13h-2zm4 6h2v7h-2zm4-9h2v16h-2zM4 12.6l5-5 4 3 6-6 1.4 1.4-7.3 7.3-4-3-3.7 3.7z"/></svg>'
});

type BackendSettings = Pick<AgentSettings, 'backend' | 'openaiBaseUrl' | 'openaiApiKey' | 'openaiModel'>;

export namespace CommandIDs {
  export const analyze = 'datarus:analyze';
  export const stop = 'datarus:stop';
  export const reflect = 'datarus:reflect';
  export const thumbsUp = 'datarus:feedback-up';
  export const thumbsDown = 'datarus:feedback-down';
  export const exportLog = 'datarus:export';
  export const removeEpisode = 'datarus:remove-episode-cells';
}

const EXPORT_CHOICES: Record<string, ExportFormat> = {
  'SFT chat messages (JSONL)': 'sft',
  'Datarus-tagged text (JSONL)': 'tagged',
  'GRPO prompts (JSONL)': 'grpo',
  'DPO pairs from edits (JSONL)': 'dpo',
  'KTO labels from feedback (JSONL)': 'kto',
  'Notebooks (.ipynb folder)': 'ipynb'
};

export const reflectIcon = new LabIcon({
  name: 'datarus:reflect',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" ' +
    'd="M12 2a7 7 0 0 0-4 12.7V17a1 1 0 0 0 1 1h6a1 1 0 0 0 1-1v-2.3A7 7 0 0 0 12 2zm-3 18h6v1a1 1 0 0 1-1 1h-4a1 1 0 0 1-1-1z"/></svg>'
});

/** Sends a record to the host's episode log; failures are shown, never thrown. */
async function logRecord(send: () => Promise<unknown>): Promise<boolean> {
  try {
    await send();
    return true;
  } catch (err) {
    Notification.error(`Datarus could not log this: ${(err as Error).message}`, { autoClose: 8000 });
    return false;
  }
}

async function makeModel(settings: BackendSettings, client: IDatarusClient): Promise<AgentModel> {
  if (settings.backend === 'openai') {
    if (!settings.openaiBaseUrl) {
      throw new Error('The OpenAI-compatible backend needs a base URL (Settings → Datarus Lab: Analyze).');
    }
    return new OpenAIModel({ baseUrl: settings.openaiBaseUrl, apiKey: settings.openaiApiKey || undefined, model: settings.openaiModel || 'default' });
  }
  // Episodes record the loaded model's name; "embedded" only when the host cannot say within a moment.
  const status = await client.status({ signal: AbortSignal.timeout(3000) }).catch(() => null);
  return new HostModel(client.request, status?.model?.name ?? 'embedded');
}

export const agentPlugin: JupyterFrontEndPlugin<void> = {
  id: AGENT_PLUGIN_ID,
  description: 'Analyze: the Datarus agent writes and runs cells in the current notebook.',
  autoStart: true,
  requires: [INotebookTracker, ISettingRegistry, IDatarusClient],
  optional: [ICommandPalette, IStateDB],
  activate: async (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    settingRegistry: ISettingRegistry,
    client: IDatarusClient,
    palette: ICommandPalette | null,
    state: IStateDB | null
  ) => {
    const settings = await loadSettings<AgentSettings>(settingRegistry, AGENT_PLUGIN_ID);
    const sessions = new Map<NotebookPanel, AnalyzeSession>();
    const reflections = new Map<NotebookPanel, Reflection>();
    const current = () => tracker.currentWidget;

    // The state database may still be restoring the workspace: never let it hold up Analyze.
    const recentQuestions = async (): Promise<string[]> => {
      const fetched = state ? state.fetch(RECENT_KEY).catch(() => undefined) : Promise.resolve(undefined);
      const timeout = new Promise<undefined>(resolve => setTimeout(() => resolve(undefined), 1000));
      return ((await Promise.race([fetched, timeout])) as string[] | undefined) ?? [];
    };
    const remember = async (question: string) => {
      if (!state) {
        return;
      }
      const recent = (await recentQuestions()).filter(q => q !== question);
      await state.save(RECENT_KEY, [question, ...recent].slice(0, MAX_RECENT));
    };

    app.commands.addCommand(CommandIDs.analyze, {
      label: 'Analyze with Datarus…',
      caption: 'Ask a question; Datarus writes and runs cells in this notebook to answer it',
      icon: analyzeIcon,
      isEnabled: () => current() !== null,
      execute: async args => {
        const panel = current();
        if (!panel) {
          return;
        }
        if (sessions.get(panel)?.running) {
          await showErrorMessage('Datarus is already working here', 'Wait for the episode to end, or press Stop in the notebook toolbar.');
          return;
        }
        let question = typeof args.question === 'string' ? args.question : null;
        if (question === null) {
          question = await askQuestion(await recentQuestions());
          if (question === null) {
            return;
          }
        }
        if (!question) {
          await showErrorMessage('No question', 'Type a question for Datarus to analyze.');
          return;
        }
        const values = settings.values;
        let model: AgentModel;
        try {
          model = await makeModel(values, client);
        } catch (err) {
          await showErrorMessage('Datarus cannot start', (err as Error).message);
          return;
        }
        void remember(question).catch(() => undefined);
        sessions.get(panel)?.dispose();
        const session = new AnalyzeSession(panel, model, values, client);
        sessions.set(panel, session);
        if (values.approval === 'auto') {
          showApprovalNotice(panel.context.path, () => void settings.set('approval', 'ask'));
        }
        app.commands.notifyCommandChanged(CommandIDs.stop);
        try {
          const episode = await session.run(question);
          if (settings.get('logEpisodes') && (episode.steps.length > 0 || episode.answer)) {
            if (await logRecord(() => client.logEpisode(episode))) {
              session.logged();
              watchEdits(panel, episode.id);
            }
          }
        } finally {
          app.commands.notifyCommandChanged(CommandIDs.stop);
        }
      }
    });

    /** After a logged episode, a change to one of its code cells is kept as a preference pair (original → edit). */
    const watchEdits = (panel: NotebookPanel, episodeId: string) => {
      for (const cell of panel.content.widgets) {
        const meta = provenanceOf(cell.model);
        const step = meta?.step;
        if (meta?.episode !== episodeId || meta.role !== 'code' || typeof step !== 'number') {
          continue;
        }
        const original = cell.model.sharedModel.getSource();
        let timer: ReturnType<typeof setTimeout> | null = null;
        cell.model.contentChanged.connect(() => {
          if (timer) {
            clearTimeout(timer);
          }
          timer = setTimeout(() => {
            const edited = cell.model.sharedModel.getSource();
            if (edited !== original) {
              void logRecord(() => client.logEdit({ episodeId, step, original, edited }));
            }
          }, 3000);
        });
      }
    };

    const feedback = (rating: 'up' | 'down') => async () => {
      const cell = current()?.content.activeCell;
      const meta = provenanceOf(cell?.model);
      if (!meta?.episode) {
        await showErrorMessage('Not a Datarus cell', 'Select a cell that Datarus wrote to rate it.');
        return;
      }
      if (!settings.get('logEpisodes')) {
        await showErrorMessage('Episode logging is off', 'Turn on "Log episodes" in Settings → Datarus Lab: Analyze to keep feedback.');
        return;
      }
      // The answer cell rates the whole episode; a step's cells rate that step.
      const step = meta.role === 'answer' ? null : (meta.step ?? null);
      const episodeId = meta.episode;
      if (await logRecord(() => client.logFeedback({ episodeId, step, rating }))) {
        Notification.success(`Thanks: ${rating === 'up' ? '👍' : '👎'} recorded for ${step === null ? 'the episode' : `step ${step + 1}`}`, { autoClose: 3000 });
      }
    };
    app.commands.addCommand(CommandIDs.thumbsUp, { label: 'Datarus: Good step 👍', execute: feedback('up') });
    app.commands.addCommand(CommandIDs.thumbsDown, { label: 'Datarus: Bad step 👎', execute: feedback('down') });

    app.commands.addCommand(CommandIDs.exportLog, {
      label: 'Export Episodes as Training Data…',
      execute: async () => {
        const choice = await InputDialog.getItem({ title: 'Export Datarus episodes', label: 'Format', items: Object.keys(EXPORT_CHOICES), okLabel: 'Export' });
        if (!choice.button.accept || !choice.value) {
          return;
        }
        const format = EXPORT_CHOICES[choice.value];
        const name = `${format}-${new Date().toISOString().replace(/[:.]/g, '-')}${format === 'ipynb' ? '' : '.jsonl'}`;
        let summary;
        try {
          summary = await client.exportLog({ format, path: name });
        } catch (err) {
          await showErrorMessage('Export failed', (err as Error).message);
          return;
        }
        Notification.success(`Exported ${summary.rows} row(s) from ${summary.episodes} episode(s) to ${summary.path}`, { autoClose: 10000 });
      }
    });

    app.commands.addCommand(CommandIDs.reflect, {
      label: 'Reflect on Selected Cells',
      caption: 'Datarus reasons about the selected cells and writes its reflection below them',
      icon: reflectIcon,
      isEnabled: () => current() !== null,
      execute: async () => {
        const panel = current();
        if (!panel) {
          return;
        }
        const notebook = panel.content;
        const cells = notebook.widgets.filter(cell => notebook.isSelectedOrActive(cell));
        if (reflections.has(panel)) {
          await showErrorMessage('Datarus is already reflecting here', 'Wait for the reflection to end, or press Stop in the notebook toolbar.');
          return;
        }
        const values = settings.values;
        try {
          const model = await makeModel(values, client);
          const reflection = startReflection(panel, cells, model, {
            profile: promptProfileFor(values, model, client),
            maxTokens: values.maxTokensPerTurn,
            temperature: values.temperature,
            grammar: values.reflectionGrammar || undefined
          });
          reflections.set(panel, reflection);
          app.commands.notifyCommandChanged(CommandIDs.stop);
          await reflection.done.finally(() => {
            reflections.delete(panel);
            app.commands.notifyCommandChanged(CommandIDs.stop);
          });
        } catch (err) {
          await showErrorMessage('Datarus could not reflect', (err as Error).message);
        }
      }
    });

    app.commands.addCommand(CommandIDs.stop, {
      label: 'Stop Datarus',
      caption: 'Stop the model and interrupt the running cell',
      isEnabled: () => {
        const panel = current();
        return !!panel && (!!sessions.get(panel)?.running || reflections.has(panel));
      },
      execute: () => {
        const panel = current();
        if (panel) {
          sessions.get(panel)?.stop();
          reflections.get(panel)?.abort();
        }
      }
    });

    app.commands.addCommand(CommandIDs.removeEpisode, {
      label: "Remove This Episode's Cells",
      caption: 'Remove every cell Datarus wrote in the episode of the active cell (Undo brings them back)',
      isVisible: () => !!current() && activeEpisode(current()!.content) !== null,
      execute: args => {
        const panel = current();
        const episode = typeof args.episode === 'string' ? args.episode : panel ? activeEpisode(panel.content) : null;
        if (!panel || !episode) {
          return;
        }
        if (sessions.get(panel)?.running && sessions.get(panel)?.episodeId === episode) {
          void showErrorMessage('Datarus is still working', 'Stop the episode before removing its cells.');
          return;
        }
        removeEpisodeCells(panel.content, episode);
      }
    });
    app.contextMenu.addItem({ command: CommandIDs.removeEpisode, selector: '.jp-Notebook .jp-Cell', rank: 100 });

    tracker.widgetAdded.connect((_, panel) => {
      panel.disposed.connect(() => sessions.delete(panel));
      // Skipped cells keep their marker when the notebook is opened again.
      void panel.context.ready.then(() => {
        markSkippedCells(panel.content);
        panel.content.model?.cells.changed.connect(() => markSkippedCells(panel.content));
      });
    });

    palette?.addItem({ command: CommandIDs.analyze, category: 'Datarus' });
    palette?.addItem({ command: CommandIDs.stop, category: 'Datarus' });
    palette?.addItem({ command: CommandIDs.reflect, category: 'Datarus' });
    palette?.addItem({ command: CommandIDs.thumbsUp, category: 'Datarus' });
    palette?.addItem({ command: CommandIDs.thumbsDown, category: 'Datarus' });
    palette?.addItem({ command: CommandIDs.exportLog, category: 'Datarus' });
    palette?.addItem({ command: CommandIDs.removeEpisode, category: 'Datarus' });
  }
};
