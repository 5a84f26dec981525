import * as os from 'node:os';
import * as path from 'node:path';

import { defaultEpisodesFile, defaultModelsDir, jupyterDataDir } from '../../src/host/dataDir';

describe('per-user data folders', () => {
  const home = os.homedir();

  it('finds the Jupyter data dir the way jupyter_core does', () => {
    expect(jupyterDataDir({ JUPYTER_DATA_DIR: '/j' }, 'linux')).toBe('/j');
    expect(jupyterDataDir({}, 'linux')).toBe(path.join(home, '.local', 'share', 'jupyter'));
    expect(jupyterDataDir({ XDG_DATA_HOME: '/xdg' }, 'linux')).toBe(path.join('/xdg', 'jupyter'));
    expect(jupyterDataDir({}, 'darwin')).toBe(path.join(home, 'Library', 'Jupyter'));
    expect(jupyterDataDir({ APPDATA: '/appdata' }, 'win32')).toBe(path.join('/appdata', 'jupyter'));
  });

  it('keeps models and the episode log under it unless the environment says otherwise', () => {
    expect(defaultModelsDir({ JUPYTER_DATA_DIR: '/j' })).toBe(path.join('/j', 'datarus', 'models'));
    expect(defaultModelsDir({ JUPYTER_DATA_DIR: '/j', DATARUS_MODELS_DIR: '/m' })).toBe('/m');
    expect(defaultEpisodesFile({ JUPYTER_DATA_DIR: '/j' })).toBe(path.join('/j', 'datarus', 'episodes.jsonl'));
    expect(defaultEpisodesFile({ DATARUS_EPISODES_FILE: '/e.jsonl' })).toBe('/e.jsonl');
  });
});
