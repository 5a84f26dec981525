// Packs what `npm run bench:gpu` needs on a bare GPU machine (no Node, no npm, no network) into
// .gpu-carry/, under the 64 MiB a device call carries: the node binary, the bundled host, the GPU
// bench bundled into one file, node-llama-cpp with its CPU and Vulkan binaries (the CUDA ones are
// 130 MB and more: they do not fit), the shape model's writer with the pure-Python gguf package,
// and Debian's Vulkan loader. scripts/gpu-device.sh unpacks and runs it there.
//
//   node scripts/gpu-pack.mjs        (after `npm run build:host`; needs the npm cache of `npm ci`)
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const carry = path.join(root, '.gpu-carry');
const hostDir = path.join(root, 'datarus_jupyterlab', 'host');
const KEEP = new Set(['@node-llama-cpp/linux-x64', '@node-llama-cpp/linux-x64-vulkan']);
const LIMIT = 64 * 2 ** 20;

if (!existsSync(path.join(hostDir, 'datarus.js'))) {
  throw new Error('the bundled host is missing: run `npm run build:host` first');
}
rmSync(carry, { recursive: true, force: true });
mkdirSync(path.join(carry, 'gl'), { recursive: true });
const stage = mkdtempSync(path.join(os.tmpdir(), 'datarus-gpu-pack-'));
const app = path.join(stage, 'app');

// The checkout's layout, as far as the bench uses it: bin/datarus.js loads lib-node/cli/index.js (here the
// bundled host, with its self-test child, model and manifests beside it), the bench finds the root two
// folders above itself, writes the shape model with models/make_shape_model.py and its results in benchmarks/.
mkdirSync(path.join(app, 'lib-node', 'cli'), { recursive: true });
cpSync(path.join(root, 'bin'), path.join(app, 'bin'), { recursive: true });
for (const file of ['datarus.js', 'datarus-selftest.js', 'selftest.gguf']) {
  cpSync(path.join(hostDir, file), path.join(app, 'lib-node', 'cli', file === 'datarus.js' ? 'index.js' : file));
}
mkdirSync(path.join(app, 'models'), { recursive: true });
for (const file of readdirSync(path.join(root, 'models')).filter(f => f.endsWith('.json') || f === 'make_shape_model.py')) {
  cpSync(path.join(root, 'models', file), path.join(app, 'models', file));
}
cpSync(path.join(root, 'models', 'schema'), path.join(app, 'models', 'schema'), { recursive: true });
cpSync(path.join(root, 'package.json'), path.join(app, 'package.json'));
await build({
  entryPoints: [path.join(root, 'src', 'bench', 'gpu.ts')],
  outfile: path.join(app, 'lib-node', 'bench', 'gpu.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['node-llama-cpp'],
  logLevel: 'warning'
});
// Every module of a bundle shares one `module`: a second `require.main === module` main would run too.
const mains = readFileSync(path.join(app, 'lib-node', 'bench', 'gpu.js'), 'utf8').match(/require\.main === module/g) ?? [];
if (mains.length !== 1) {
  throw new Error(`the bench bundle has ${mains.length} mains: import what it needs from modules without one`);
}

// node-llama-cpp as the wheel's runtime installs it, with only the CPU and Vulkan binaries of Linux x64.
const lock = JSON.parse(readFileSync(path.join(hostDir, 'package-lock.json'), 'utf8'));
const dropped = name => name.startsWith('@node-llama-cpp/') && !KEEP.has(name);
for (const key of Object.keys(lock.packages)) {
  const entry = lock.packages[key];
  if (dropped(key.replace(/^node_modules\//, ''))) {
    delete lock.packages[key];
    continue;
  }
  for (const field of ['dependencies', 'optionalDependencies']) {
    for (const name of Object.keys(entry[field] ?? {}).filter(dropped)) {
      delete entry[field][name];
    }
  }
}
cpSync(path.join(hostDir, 'package.json'), path.join(app, 'package.runtime.json'));
const npmDir = path.join(stage, 'npm');
mkdirSync(npmDir);
cpSync(path.join(hostDir, 'package.json'), path.join(npmDir, 'package.json'));
writeFileSync(path.join(npmDir, 'package-lock.json'), JSON.stringify(lock));
execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', '--prefer-offline'], { cwd: npmDir, stdio: 'inherit' });
rmSync(path.join(npmDir, 'node_modules', 'node-llama-cpp', 'llama', 'gitRelease.bundle'), { force: true }); // for building from source only
cpSync(path.join(npmDir, 'node_modules'), path.join(app, 'node_modules'), { recursive: true, verbatimSymlinks: true });

// gguf for the shape model (numpy is on the device image), as pure Python.
const sitePackages = execFileSync(path.join(root, '.venv', 'bin', 'python'), ['-c', 'import gguf, os; print(os.path.dirname(os.path.dirname(gguf.__file__)))'], { encoding: 'utf8' }).trim();
for (const name of ['gguf', 'yaml', 'tqdm']) {
  cpSync(path.join(sitePackages, name), path.join(app, 'python', name), { recursive: true, filter: src => !src.endsWith('.so') && !src.includes('__pycache__') });
}

execFileSync('tar', ['-C', stage, '-cJf', path.join(carry, 'app.tar.xz'), 'app']);
writeFileSync(path.join(carry, 'node.xz'), execFileSync('xz', ['-9', '-c', process.execPath], { maxBuffer: 1 << 30 }));
// The Vulkan loader and the GL libraries NVIDIA's Vulkan driver needs (see the device tool's notes).
const listsDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-apt-'));
mkdirSync(path.join(listsDir, 'partial'));
const apt = ['-oAPT::Architecture=amd64', '-oAPT::Architectures=amd64', `-oDir::State::Lists=${listsDir}`];
execFileSync('apt-get', [...apt, '-qq', 'update'], { stdio: 'inherit' });
execFileSync('apt-get', [...apt, '-qq', 'download', 'libvulkan1', 'libegl1', 'libglvnd0', 'libopengl0', 'libgl1', 'libglx0', 'libgles2'], { cwd: path.join(carry, 'gl'), stdio: 'inherit' });
rmSync(listsDir, { recursive: true, force: true });
rmSync(stage, { recursive: true, force: true });

const size = dir => readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? size(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).size), 0);
const bytes = size(carry);
process.stdout.write(`.gpu-carry: ${(bytes / 2 ** 20).toFixed(1)} MiB (a device call carries 64 MiB)\n`);
if (bytes > LIMIT) {
  throw new Error('.gpu-carry is over what a device call carries');
}
