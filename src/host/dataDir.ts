/**
 * Where Datarus keeps per-user data: under Jupyter's data directory, found the
 * way jupyter_core finds it, so the CLI and the server extension agree.
 */
import * as os from 'node:os';
import * as path from 'node:path';

/** `jupyter --data-dir`: $JUPYTER_DATA_DIR, else the platform's user data folder. */
export function jupyterDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.JUPYTER_DATA_DIR) {
    return env.JUPYTER_DATA_DIR;
  }
  const home = os.homedir();
  if (platform === 'darwin') {
    return path.join(home, 'Library', 'Jupyter');
  }
  if (platform === 'win32') {
    return path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'jupyter');
  }
  return path.join(env.XDG_DATA_HOME || path.join(home, '.local', 'share'), 'jupyter');
}

/** The folder of GGUF files: $DATARUS_MODELS_DIR, else `<jupyter data dir>/datarus/models`. */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATARUS_MODELS_DIR || path.join(jupyterDataDir(env), 'datarus', 'models');
}

/** The episode log: $DATARUS_EPISODES_FILE, else `<jupyter data dir>/datarus/episodes.jsonl`. */
export function defaultEpisodesFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATARUS_EPISODES_FILE || path.join(jupyterDataDir(env), 'datarus', 'episodes.jsonl');
}
