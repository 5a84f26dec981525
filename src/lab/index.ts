/**
 * JupyterLab plugins of Datarus Lab.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { agentPlugin } from './agentPlugin';
import { manageModels } from './models';
import { HostStatusItem } from './statusItem';

const PLUGIN_ID = 'datarus-jupyterlab:host-status';

/** Shows the model host's state in the status bar. */
const hostStatusPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Shows the Datarus model host: loaded model, backend, and whether it is up.',
  autoStart: true,
  requires: [IStatusBar],
  optional: [ISettingRegistry, ICommandPalette],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar, settingRegistry: ISettingRegistry | null, palette: ICommandPalette | null) => {
    const item = new HostStatusItem({ interval: 5000 });
    statusBar.registerStatusItem(PLUGIN_ID, { item, align: 'left', rank: 100 });
    app.commands.addCommand('datarus:models', {
      label: 'Datarus Models: Download or Load…',
      caption: 'Download a model with progress, or load one into the model host',
      execute: () => manageModels(() => void item.refresh())
    });
    // A click on the status item opens the model manager.
    item.node.addEventListener('click', () => void app.commands.execute('datarus:models'));
    item.node.style.cursor = 'pointer';
    palette?.addItem({ command: 'datarus:models', category: 'Datarus' });
    if (settingRegistry) {
      void settingRegistry.load(PLUGIN_ID).then(settings => {
        const apply = () => {
          item.interval = (settings.get('statusInterval').composite as number) * 1000;
        };
        apply();
        settings.changed.connect(apply);
      });
    }
  }
};

export default [hostStatusPlugin, agentPlugin];
