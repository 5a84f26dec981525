/**
 * Where Jupyter keeps its data, resolved as Jupyter itself does, so that
 * `datarus export` reads the episode log the server extension wrote: `jupyter
 * --data-dir` when Jupyter is on the PATH (it knows every rule, platformdirs
 * included), else `jupyter_core.paths.jupyter_data_dir()`'s rules by hand.
 */
import { execFile } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

type Env = Record<string, string | undefined>;

/** `jupyter_core.paths.jupyter_data_dir()` without platformdirs: JUPYTER_DATA_DIR, then the platform's folder. */
export function jupyterDataDirByRule(env: Env = process.env, platform: NodeJS.Platform = process.platform, home = os.homedir()): string {
  if (env.JUPYTER_DATA_DIR) {
    return env.JUPYTER_DATA_DIR;
  }
  if (platform === 'darwin') {
    return path.join(home, 'Library', 'Jupyter');
  }
  if (platform === 'win32') {
    return path.join(env.APPDATA || path.join(home, '.jupyter', 'data'), 'jupyter');
  }
  return path.join(env.XDG_DATA_HOME || path.join(home, '.local', 'share'), 'jupyter');
}

/** Asks `jupyter --data-dir` (a few seconds at most); null when Jupyter is not installed or does not answer. */
export function askJupyter(env: Env = process.env, timeoutMs = 15000): Promise<string | null> {
  return new Promise(resolve => {
    execFile('jupyter', ['--data-dir'], { env: env as NodeJS.ProcessEnv, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout) => {
      const dir = stdout?.trim();
      resolve(!err && dir && path.isAbsolute(dir) ? dir : null);
    });
  });
}

/** The episode log the server extension writes by default: DATARUS_EPISODES_FILE, else `<data dir>/datarus/episodes.jsonl`. */
export async function defaultEpisodesFile(env: Env = process.env): Promise<string> {
  if (env.DATARUS_EPISODES_FILE) {
    return env.DATARUS_EPISODES_FILE;
  }
  const dataDir = env.JUPYTER_DATA_DIR || (await askJupyter(env)) || jupyterDataDirByRule(env);
  return path.join(dataDir, 'datarus', 'episodes.jsonl');
}

/**
 * The models folder: DATARUS_MODELS_DIR, else `<data dir>/datarus/models` by the rules (the
 * `datarus` console script and the server extension pass the folder jupyter_core computes).
 */
export function defaultModelsDir(env: Env = process.env): string {
  return env.DATARUS_MODELS_DIR || path.join(jupyterDataDirByRule(env), 'datarus', 'models');
}
