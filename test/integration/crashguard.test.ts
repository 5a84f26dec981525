/**
 * No crash loops: a host that dies while starting is restarted at most once on the
 * same backend, then on the next backend of the chain, and when none is left
 * requests fail at once with the reason. The policy (datarus_jupyterlab/crashguard.py)
 * is driven line by line as the host's stderr would; the guard runs for real under
 * a Jupyter server whose `node` setting runs the host with a fault injected: it aborts at model load (faults.ts).
 */
import { execFileSync } from 'node:child_process';

import { nodeWithFaults } from './faults';
import { PYTHON, ROOT } from './paths';
import { getJson, RunningJupyter, startJupyter } from './processes';

jest.setTimeout(240000);

/** Runs the guard through a scripted sequence of host starts; returns what it decided after each. */
function drive(gpu: string, starts: { backend: string | null; settled: boolean; code: number }[]): any[] {
  const script = `
import json, sys
from datarus_jupyterlab.crashguard import CrashLoopGuard
g = CrashLoopGuard(${JSON.stringify(gpu)}, platform="linux")
out = []
for s in json.loads(sys.argv[1]):
    args = g.gpu_arg()
    g.started()
    if s["backend"]:
        g.saw_line("datarus host backend: " + s["backend"])
    if s["settled"]:
        g.saw_line("datarus host ready: backend %s, model m, 1 threads" % s["backend"])
    g.exited(s["code"])
    out.append({"startedWith": args, "next": g.gpu_arg(), "note": g.note})
print(json.dumps(out))
`;
  return JSON.parse(execFileSync(PYTHON, ['-c', script, JSON.stringify(starts)], { cwd: ROOT, encoding: 'utf8' }));
}

describe('crash-loop guard (policy)', () => {
  it('restarts once per backend, then goes down the chain CUDA → CUDA 12 → Vulkan → CPU, then stops', () => {
    const steps = drive('auto', [
      { backend: 'cuda', settled: false, code: -6 },
      { backend: 'cuda', settled: false, code: -6 },
      { backend: 'cuda12', settled: false, code: -6 },
      { backend: 'cuda12', settled: false, code: -6 },
      { backend: 'vulkan', settled: false, code: -11 },
      { backend: 'vulkan', settled: false, code: -11 },
      { backend: 'cpu', settled: false, code: 1 },
      { backend: 'cpu', settled: false, code: 1 }
    ]);
    expect(steps.map(s => s.startedWith)).toEqual(['auto', 'auto', 'cuda12,vulkan,cpu', 'cuda12,vulkan,cpu', 'vulkan,cpu', 'vulkan,cpu', 'cpu', 'cpu']);
    expect(steps[1].note).toBe('The model host died 2 times while starting on CUDA (last exit code -6); it now starts with --gpu cuda12,vulkan,cpu.');
    expect(steps[3].note).toBe('The model host died 2 times while starting on CUDA 12 (last exit code -6); it now starts with --gpu vulkan,cpu.');
    expect(steps[7].next).toBeNull();
    expect(steps[7].note).toContain('no backend is left to try');
  });

  it('a host that died after it was ready is restarted on the same backend', () => {
    const steps = drive('auto', [
      { backend: 'cuda', settled: true, code: -9 },
      { backend: 'cuda', settled: true, code: -9 },
      { backend: 'cuda', settled: true, code: -9 }
    ]);
    expect(steps.map(s => s.next)).toEqual(['auto', 'auto', 'auto']);
    expect(steps[2].note).toBeNull();
  });

  it('after CPU in auto mode nothing earlier in the chain is tried again', () => {
    // Auto reached the CPU only because CUDA and Vulkan were not usable.
    const steps = drive('auto', [
      { backend: 'cpu', settled: false, code: -6 },
      { backend: 'cpu', settled: false, code: -6 }
    ]);
    expect(steps[1].next).toBeNull();
  });

  it('an explicit backend is not replaced: the host stops being started, and the note says how to choose', () => {
    const steps = drive('cuda', [
      { backend: 'cuda', settled: false, code: -6 },
      { backend: 'cuda', settled: false, code: -6 }
    ]);
    expect(steps.map(s => s.startedWith)).toEqual(['cuda', 'cuda']);
    expect(steps[1].next).toBeNull();
    expect(steps[1].note).toContain('CUDA was chosen explicitly (gpu = cuda), so it does not fall back by itself');
  });

  it('a host that died before naming a backend counts against the first one left', () => {
    const steps = drive('vulkan,cpu', [
      { backend: null, settled: false, code: 1 },
      { backend: null, settled: false, code: 1 }
    ]);
    expect(steps[1].next).toBe('cpu');
  });
});

describe('crash-loop guard under Jupyter', () => {
  let jupyter: RunningJupyter;
  const api = (endpoint: string) => getJson(`${jupyter.url}/datarus/${endpoint}`, { headers: { Authorization: `token ${jupyter.token}` } });

  beforeAll(async () => {
    jupyter = await startJupyter([`--DatarusLabApp.node=${nodeWithFaults('load:cpu')}`], { DATARUS_GPU: 'auto' });
  });

  afterAll(async () => {
    await jupyter?.stop();
  });

  it('a host that dies at load is started at most twice on its backend, then requests fail at once with the reason', async () => {
    const deadline = Date.now() + 180000;
    let last: { status: number; body: any } = { status: 0, body: null };
    while (Date.now() < deadline) {
      last = await api('api/status');
      if (last.status === 503 && String(last.body?.error?.message).includes('died 2 times')) {
        break;
      }
      await new Promise(r => setTimeout(r, 300));
    }
    expect(last.status).toBe(503);
    expect(last.body.error.code).toBe('host_unavailable');
    expect(last.body.error.message).toMatch(/^The model host died 2 times while starting on CPU \(last exit code -?\d+\); no backend is left to try/);

    const state = (await api('host-state')).body;
    expect(state).toMatchObject({ running: false, starts: 2, gpu: null, crashNote: last.body.error.message });
    expect(jupyter.output()).toContain('aborting at model load on cpu (a fault the test injected)');

    // Crash-looping: no further start, and the answer does not wait on one.
    const again = await api('api/status');
    expect(again.status).toBe(503);
    expect((await api('host-state')).body.starts).toBe(2);
  });
});
