/**
 * The lockfile the wheel's runtime install (and scripts/setup.sh) gives npm on a
 * machine without an NVIDIA driver: node-llama-cpp's CUDA 12 build
 * (@node-llama-cpp/linux-x64-cuda-ext, 357 MB) is left out, and npm itself
 * accepts the result (`npm ci --dry-run`, offline: it reads the lockfile only).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { PYTHON, ROOT } from './paths';

jest.setTimeout(120000);

const HOST = path.join(ROOT, 'datarus_jupyterlab', 'host');
const EXT = '@node-llama-cpp/linux-x64-cuda-ext';

function python(code: string): string {
  return execFileSync(PYTHON, ['-c', code], { cwd: ROOT, encoding: 'utf8' });
}

/** What `npm ci --dry-run` would add with this lockfile and the runtime's package.json. */
function npmWouldAdd(lock: object): string[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-runtime-lock-'));
  copyFileSync(path.join(HOST, 'package.json'), path.join(dir, 'package.json'));
  writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify(lock));
  const out = execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--dry-run', '--offline'], {
    cwd: dir,
    encoding: 'utf8'
  });
  return [...out.matchAll(/^add (\S+) /gm)].map(m => m[1]);
}

describe('the runtime lockfile for a machine without an NVIDIA driver', () => {
  const full = JSON.parse(readFileSync(path.join(HOST, 'package-lock.json'), 'utf8'));
  const trimmed = JSON.parse(
    python(`
import json
from datarus_jupyterlab.runtime import LOCKFILE, lockfile_for_this_machine
print(json.dumps(lockfile_for_this_machine(json.loads(LOCKFILE.read_text()), with_cuda_ext=False)))
`)
  );

  it('leaves out the CUDA 12 build packages and the edges to them, and nothing else', () => {
    const gone = Object.keys(full.packages).filter(key => !(key in trimmed.packages));
    expect(gone.sort()).toEqual(['node_modules/@node-llama-cpp/linux-x64-cuda-ext', 'node_modules/@node-llama-cpp/win-x64-cuda-ext']);
    const nodeLlamaCpp = trimmed.packages['node_modules/node-llama-cpp'];
    expect(Object.keys(nodeLlamaCpp.optionalDependencies)).not.toContain(EXT);
    expect(Object.keys(nodeLlamaCpp.optionalDependencies)).toContain('@node-llama-cpp/linux-x64-cuda');
    expect(Object.keys(full.packages['node_modules/node-llama-cpp'].optionalDependencies).length - Object.keys(nodeLlamaCpp.optionalDependencies).length).toBe(2);
  });

  it('is accepted by npm ci, which then installs everything but the CUDA 12 build', () => {
    const withExt = npmWouldAdd(full);
    const without = npmWouldAdd(trimmed);
    expect(withExt).toContain(EXT);
    expect(without).not.toContain(EXT);
    expect(without).toEqual(expect.arrayContaining(['node-llama-cpp', '@node-llama-cpp/linux-x64', '@node-llama-cpp/linux-x64-cuda', '@node-llama-cpp/linux-x64-vulkan']));
    expect(withExt.filter(name => name !== EXT).sort()).toEqual([...without].sort());
  });

  it('gets a runtime folder of its own: a driver installed later brings the CUDA 12 build', () => {
    const versions = JSON.parse(
      python(`
import json
from datarus_jupyterlab import runtime
out = {}
for present in (False, True):
    runtime.nvidia_driver_present = lambda: present
    out[str(present)] = {"version": runtime.runtime_version(), "packages": len(runtime.expected_packages())}
print(json.dumps(out))
`)
    );
    expect(versions.False.version).toMatch(/^node-llama-cpp-3\.21\.1-[0-9a-f]{12}-without-cuda-ext$/);
    expect(versions.True.version).toBe(versions.False.version.replace(/-without-cuda-ext$/, ''));
    expect(versions.True.packages - versions.False.packages).toBe(1); // the Linux x64 one; Windows' is not for this platform
  });
});
