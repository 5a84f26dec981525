/**
 * JupyterLab plugins of Datarus Lab.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { agentPlugin } from './agentPlugin';
import { DatarusClient } from './client';
import { manageModels } from './models';
import { HostStatusSettings, loadSettings } from './settings';
import { HostStatusItem } from './statusItem';
import { IDatarusClient } from './tokens';

const PLUGIN_ID = 'datarus-jupyterlab:host-status';

/** The typed client of the model host, for the other plugins (and other extensions). */
const clientPlugin: JupyterFrontEndPlugin<IDatarusClient> = {
  id: 'datarus-jupyterlab:client',
  description: 'The client of the Datarus model host, through the Jupyter server.',
  autoStart: true,
  provides: IDatarusClient,
  activate: (app: JupyterFrontEnd) => new DatarusClient(app.serviceManager.serverSettings)
};

/** Shows the model host's state in the status bar. */
const hostStatusPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Shows the Datarus model host: loaded model, backend, and whether it is up.',
  autoStart: true,
  requires: [IStatusBar, IDatarusClient],
  optional: [ISettingRegistry, ICommandPalette],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar, client: IDatarusClient, settingRegistry: ISettingRegistry | null, palette: ICommandPalette | null) => {
    const item = new HostStatusItem({ interval: 5000, client });
    statusBar.registerStatusItem(PLUGIN_ID, { item, align: 'left', rank: 100 });
    app.commands.addCommand('datarus:models', {
      label: 'Datarus Models: Download or Load…',
      caption: 'Download a model with progress, or load one into the model host',
      execute: () => manageModels(client, () => void item.refresh())
    });
    // A click on the status item opens the model manager.
    item.node.addEventListener('click', () => void app.commands.execute('datarus:models'));
    item.node.style.cursor = 'pointer';
    palette?.addItem({ command: 'datarus:models', category: 'Datarus' });
    if (settingRegistry) {
      void loadSettings<HostStatusSettings>(settingRegistry, PLUGIN_ID).then(settings => {
        const apply = () => {
          item.interval = settings.get('statusInterval') * 1000;
        };
        apply();
        settings.changed.connect(apply);
      });
    }
  }
};

export default [clientPlugin, hostStatusPlugin, agentPlugin];
