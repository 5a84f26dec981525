/**
 * The Analyze plugin: the command (toolbar button, palette, shortcut) that asks
 * a question and lets Datarus work in the current notebook, and Stop.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, showErrorMessage } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { LabIcon } from '@jupyterlab/ui-components';

import { HostModel } from '../agent/hostModel';
import { OpenAIModel } from '../agent/openaiModel';
import type { AgentModel } from '../agent/types';
import { AnalyzeSession, AnalyzeSettings } from './analyze';

export const AGENT_PLUGIN_ID = 'datarus-jupyterlab:agent';
const RECENT_KEY = 'datarus-jupyterlab:recent-questions';
const MAX_RECENT = 10;

export const analyzeIcon = new LabIcon({
  name: 'datarus:analyze',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" ' +
    'd="M3 17h2v4H3zm4-5h2v9H7zm4-4h2v13h-2zm4 6h2v7h-2zm4-9h2v16h-2zM4 12.6l5-5 4 3 6-6 1.4 1.4-7.3 7.3-4-3-3.7 3.7z"/></svg>'
});

interface BackendSettings {
  backend: 'embedded' | 'openai';
  openaiBaseUrl: string;
  openaiApiKey: string;
  openaiModel: string;
}

export namespace CommandIDs {
  export const analyze = 'datarus:analyze';
  export const stop = 'datarus:stop';
}

function makeModel(settings: BackendSettings): AgentModel {
  if (settings.backend === 'openai') {
    if (!settings.openaiBaseUrl) {
      throw new Error('The OpenAI-compatible backend needs a base URL (Settings → Datarus Lab: Analyze).');
    }
    return new OpenAIModel({ baseUrl: settings.openaiBaseUrl, apiKey: settings.openaiApiKey || undefined, model: settings.openaiModel || 'default' });
  }
  const server = ServerConnection.makeSettings();
  return new HostModel((path, init) => ServerConnection.makeRequest(URLExt.join(server.baseUrl, 'datarus', 'api', path), init, server), 'embedded');
}

export const agentPlugin: JupyterFrontEndPlugin<void> = {
  id: AGENT_PLUGIN_ID,
  description: 'Analyze: the Datarus agent writes and runs cells in the current notebook.',
  autoStart: true,
  requires: [INotebookTracker, ISettingRegistry],
  optional: [ICommandPalette, IStateDB],
  activate: async (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    settingRegistry: ISettingRegistry,
    palette: ICommandPalette | null,
    state: IStateDB | null
  ) => {
    const settings = await settingRegistry.load(AGENT_PLUGIN_ID);
    const sessions = new Map<NotebookPanel, AnalyzeSession>();
    const current = () => tracker.currentWidget;

    const recentQuestions = async (): Promise<string[]> => ((await state?.fetch(RECENT_KEY)) as string[] | undefined) ?? [];
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
          const result = await InputDialog.getItem({
            title: 'Analyze with Datarus',
            label: 'What should Datarus find out?',
            items: await recentQuestions(),
            editable: true,
            placeholder: 'e.g. Which product line grew fastest last quarter?',
            okLabel: 'Analyze'
          });
          if (!result.button.accept) {
            return;
          }
          question = (result.value ?? '').trim();
        }
        if (!question) {
          await showErrorMessage('No question', 'Type a question for Datarus to analyze.');
          return;
        }
        let model: AgentModel;
        try {
          model = makeModel(settings.composite as unknown as BackendSettings);
        } catch (err) {
          await showErrorMessage('Datarus cannot start', (err as Error).message);
          return;
        }
        await remember(question);
        sessions.get(panel)?.dispose();
        const session = new AnalyzeSession(panel, model, settings.composite as unknown as AnalyzeSettings);
        sessions.set(panel, session);
        app.commands.notifyCommandChanged(CommandIDs.stop);
        try {
          await session.run(question);
        } finally {
          app.commands.notifyCommandChanged(CommandIDs.stop);
        }
      }
    });

    app.commands.addCommand(CommandIDs.stop, {
      label: 'Stop Datarus',
      caption: 'Stop the model and interrupt the running cell',
      isEnabled: () => {
        const panel = current();
        return !!panel && !!sessions.get(panel)?.running;
      },
      execute: () => {
        const panel = current();
        if (panel) {
          sessions.get(panel)?.stop();
        }
      }
    });

    tracker.widgetAdded.connect((_, panel) => {
      panel.disposed.connect(() => sessions.delete(panel));
    });

    palette?.addItem({ command: CommandIDs.analyze, category: 'Datarus' });
    palette?.addItem({ command: CommandIDs.stop, category: 'Datarus' });
  }
};
