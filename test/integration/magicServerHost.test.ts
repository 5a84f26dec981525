/**
 * A kernel of a Jupyter server that runs the extension, whose host nobody has
 * started yet (no browser asked the status): `%%datarus` asks the server for
 * its host (the start socket, host.py) and runs the episode on it; the kernel
 * starts no host of its own, so the model is loaded once per server.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { KernelManager } from '@jupyterlab/services';

import { KernelRunner } from '../../src/agent/kernelRunner';
import { nodeServerSettings } from '../../src/headless/serverSettings';
import { formatAnswer, formatStep } from '../../src/protocol';
import { MODELS_DIR, ROOT } from './paths';
import { getJson, runContext, RunningJupyter, startJupyter } from './processes';

jest.setTimeout(600000);

const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;
const EPISODES = path.join(os.tmpdir(), `datarus-magic-server-host-${process.pid}.jsonl`);

describe('%%datarus in a kernel of a server whose host has not started', () => {
  let jupyter: RunningJupyter;
  let kernels: KernelManager;

  beforeAll(async () => {
    // This checkout's Python package in the server and its kernels, before any editable install of another.
    jupyter = await startJupyter([], { PYTHONPATH: ROOT, DATARUS_HOST_DIR: ROOT, DATARUS_MODELS_DIR: MODELS_DIR, DATARUS_EPISODES_FILE: EPISODES });
    kernels = new KernelManager({ serverSettings: await nodeServerSettings(jupyter.url, jupyter.token) });
  });

  afterAll(async () => {
    await kernels?.shutdownAll().catch(() => undefined);
    kernels?.dispose();
    await jupyter?.stop();
  });

  it('asks the server to start its host and uses it, starting none of its own', async () => {
    const headers = { Authorization: `token ${jupyter.token}` };
    expect((await getJson(`${jupyter.url}/datarus/host-state`, { headers })).body).toMatchObject({ running: false, starts: 0 });
    writeFileSync(
      path.join(jupyter.rootDir, 'turns.json'),
      JSON.stringify([exactly(formatStep({ thought: 'Count.', code: 'counted = 3\nprint(counted)' })), exactly(formatAnswer({ thought: 'It printed 3.', text: '3' }))])
    );
    const kernel = await kernels.startNew({ name: 'python3' });
    const runner = new KernelRunner(kernel);
    const run = (code: string, step: number) => runner.run(code, runContext('magic', step, 480000));
    expect((await run('%load_ext datarus_jupyterlab', 0)).status).toBe('ok');
    const cell = await run('%%datarus --grammar turns.json --max-steps 3\nHow many?', 1);
    expect(cell.status).toBe('ok');
    expect(JSON.stringify(cell.outputs)).toContain('the Jupyter server is starting its model host');
    // The episode is in the server's episode log: its host recorded it.
    const logged = readFileSync(EPISODES, 'utf8').trim().split('\n').map(line => JSON.parse(line)).map(line => line.episode ?? line);
    expect(logged.find(e => e.question === 'How many?')).toMatchObject({ status: 'answered', answer: { text: '3' } });
    expect(await runner.inspect('counted')).toBe('3');
    // The server's host ran it: started once, by the kernel's request; the kernel holds no host.
    expect((await getJson(`${jupyter.url}/datarus/host-state`, { headers })).body).toMatchObject({ running: true, starts: 1 });
    expect(await runner.inspect("get_ipython().magics_manager.registry['DatarusMagics']._embedded is None")).toBe('True');
    expect(await runner.inspect("__import__('os').environ.get('DATARUS_HOST_START', '')")).toMatch(/start\.sock'$/);
  });
});
