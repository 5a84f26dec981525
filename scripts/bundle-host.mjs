// Bundles the model host and the `datarus` CLI (src/cli/index.ts and all it
// imports) into one JavaScript file inside the Python package, so a wheel
// carries the host. node-llama-cpp stays outside: it is native, platform
// specific and large, and is installed on first use from the lockfile next to
// the bundle (datarus_jupyterlab/runtime.py). The model manifests are copied
// next to it too.
import { build } from 'esbuild';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'datarus_jupyterlab', 'host');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const runtime = JSON.parse(readFileSync(path.join(out, 'package.json'), 'utf8'));

// The runtime lockfile must pin the same node-llama-cpp as the checkout.
if (runtime.dependencies['node-llama-cpp'] !== pkg.dependencies['node-llama-cpp']) {
  throw new Error(
    `datarus_jupyterlab/host/package.json pins node-llama-cpp ${runtime.dependencies['node-llama-cpp']}, ` +
      `package.json ${pkg.dependencies['node-llama-cpp']}: update the first and run \`npm install --package-lock-only\` there`
  );
}

await build({
  // The CLI, and the GPU self-test's child program, which the host runs in a process of its own.
  entryPoints: [
    { in: path.join(root, 'src', 'cli', 'index.ts'), out: 'datarus' },
    { in: path.join(root, 'src', 'host', 'backend', 'selftestChild.ts'), out: 'datarus-selftest' }
  ],
  outdir: out,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['node-llama-cpp'],
  define: { __DATARUS_VERSION__: JSON.stringify(pkg.version) },
  legalComments: 'linked',
  logLevel: 'warning'
});

const manifests = path.join(out, 'models');
rmSync(manifests, { recursive: true, force: true });
mkdirSync(manifests, { recursive: true });
for (const file of readdirSync(path.join(root, 'models')).filter(f => f.endsWith('.json'))) {
  cpSync(path.join(root, 'models', file), path.join(manifests, file));
}
cpSync(path.join(root, 'models', 'schema'), path.join(manifests, 'schema'), { recursive: true });
// The tiny model the GPU self-test decodes.
cpSync(path.join(root, 'models', 'selftest.gguf'), path.join(out, 'selftest.gguf'));
