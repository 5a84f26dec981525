import * as path from 'node:path';

import { defaultEpisodesFile, jupyterDataDirByRule } from '../../src/headless/jupyterDataDir';

describe("Jupyter's data dir", () => {
  it('follows JUPYTER_DATA_DIR first', () => {
    expect(jupyterDataDirByRule({ JUPYTER_DATA_DIR: '/data/jup', XDG_DATA_HOME: '/xdg' }, 'linux', '/home/u')).toBe('/data/jup');
  });

  it('uses XDG_DATA_HOME, else ~/.local/share on Linux', () => {
    expect(jupyterDataDirByRule({ XDG_DATA_HOME: '/xdg' }, 'linux', '/home/u')).toBe('/xdg/jupyter');
    expect(jupyterDataDirByRule({}, 'linux', '/home/u')).toBe('/home/u/.local/share/jupyter');
  });

  it('uses ~/Library/Jupyter on macOS and %APPDATA% on Windows', () => {
    expect(jupyterDataDirByRule({ XDG_DATA_HOME: '/xdg' }, 'darwin', '/Users/u')).toBe('/Users/u/Library/Jupyter');
    expect(jupyterDataDirByRule({ APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'win32', 'C:\\Users\\u')).toBe(path.join('C:\\Users\\u\\AppData\\Roaming', 'jupyter'));
  });

  it('puts the log where the server extension writes it', async () => {
    expect(await defaultEpisodesFile({ DATARUS_EPISODES_FILE: '/x/e.jsonl', JUPYTER_DATA_DIR: '/d' })).toBe('/x/e.jsonl');
    expect(await defaultEpisodesFile({ JUPYTER_DATA_DIR: '/d' })).toBe('/d/datarus/episodes.jsonl');
  });
});
