/**
 * Kernels without network for the private Jupyter server of headless runs.
 * Nobody watches a headless run, so where the OS allows it each kernel starts
 * in a network namespace of its own (`unshare -rn`: a user namespace maps the
 * caller to root there, so no privilege is needed) with only a loopback that
 * leads nowhere: model-written code cannot reach the network even when the
 * code policy misses it. The kernel talks to its server over unix sockets
 * (ZeroMQ's ipc transport), which a network namespace does not cut.
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface OfflineKernels {
  /** Arguments for the Jupyter server. */
  args: string[];
  /** Environment for the Jupyter server, on top of its own. */
  env: Record<string, string>;
}

/** Why kernels cannot be started without network here, or null when they can. */
export function offlineKernelsUnavailable(): string | null {
  if (process.platform !== 'linux') {
    return `network namespaces are Linux only (this is ${process.platform})`;
  }
  const probe = spawnSync('unshare', ['-rn', 'true'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10000 });
  if (probe.error) {
    return `unshare could not run (${probe.error.message})`;
  }
  if (probe.status !== 0) {
    return `unshare -rn failed (${probe.stderr.toString().trim() || `exit ${probe.status}`}); user namespaces may be disabled`;
  }
  return null;
}

/**
 * The IPython kernel spec `python3`, in a data folder under `root` that the
 * server reads first, started through a launcher that enters a new network
 * namespace. `python` as the spec's first word is the server's own Python
 * (jupyter_client substitutes it), the one the default kernel would use.
 */
export async function offlineKernels(root: string, env: NodeJS.ProcessEnv = process.env): Promise<OfflineKernels> {
  const data = path.join(root, '.jupyter-data');
  const spec = path.join(data, 'kernels', 'python3');
  await fs.mkdir(spec, { recursive: true });
  const launcher = path.join(data, 'offline_kernel.py');
  await fs.writeFile(launcher, LAUNCHER);
  const kernel = {
    argv: ['python', launcher, '-f', '{connection_file}'],
    display_name: 'Python 3 (ipykernel, no network)',
    language: 'python',
    metadata: { debugger: true }
  };
  await fs.writeFile(path.join(spec, 'kernel.json'), JSON.stringify(kernel, null, 1) + '\n');
  const jupyterPath = [data, ...(env.JUPYTER_PATH ? [env.JUPYTER_PATH] : [])].join(path.delimiter);
  return {
    args: ['--KernelManager.transport=ipc'],
    env: { JUPYTER_PATH: jupyterPath, JUPYTER_RUNTIME_DIR: path.join(root, '.jupyter-runtime') }
  };
}

/** Replaces itself (same pid, so interrupts and restarts reach the kernel) with ipykernel in a new network namespace. */
const LAUNCHER = `import os, sys
os.execvp("unshare", ["unshare", "-rn", sys.executable, "-m", "ipykernel_launcher", *sys.argv[1:]])
`;
