/**
 * JupyterLab plugins of Datarus Lab.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { agentPlugin } from './agentPlugin';
import { HostStatusItem } from './statusItem';

const PLUGIN_ID = 'datarus-jupyterlab:host-status';

/** Shows the model host's state in the status bar. */
const hostStatusPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Shows the Datarus model host: loaded model, backend, and whether it is up.',
  autoStart: true,
  requires: [IStatusBar],
  optional: [ISettingRegistry],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar, settingRegistry: ISettingRegistry | null) => {
    const item = new HostStatusItem({ interval: 5000 });
    statusBar.registerStatusItem(PLUGIN_ID, { item, align: 'left', rank: 100 });
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
