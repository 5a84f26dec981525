import { describe as describeView, ShownStatus, restartNote, viewOf, withProcessState } from '../../src/lab/statusView';

const base: ShownStatus = {
  version: '0.1.0',
  state: 'ready',
  error: null,
  backend: 'cpu',
  backendNote: 'no supported GPU found: running on the CPU',
  gpu: null,
  model: { name: 'gemma-3-270m', path: '/m.gguf', sizeBytes: 1, trainContextSize: 32768, gpuLayers: 0 },
  loadProgress: 1,
  contextSize: 8192,
  chatWrapper: 'Gemma',
  threads: 1,
  threadsChosenBy: 'measured',
  cores: 2
};

describe('status bar text', () => {
  it('names the model and the backend when ready', () => {
    const { label, title } = describeView(viewOf(base));
    expect(label).toBe('Datarus: gemma-3-270m · CPU');
    expect(title).toContain('Backend: CPU, 1 thread (measured)');
    expect(title).toContain('no supported GPU found');
    expect(title).toContain('Chat template: Gemma');
  });

  it('says which settings the model runs with and why', () => {
    const settings = { source: 'metadata' as const, manifest: null, reason: 'no manifest describes this file; from its GGUF metadata (qwen2, Mine)', overridden: ['context size 4096'] };
    const { title } = describeView(viewOf({ ...base, model: { ...base.model!, promptProfile: 'compact', settings } }));
    expect(title).toContain('Settings: profile compact — no manifest describes this file; from its GGUF metadata (qwen2, Mine); given: context size 4096');
    // A host from before settings were reported: no line rather than a wrong one.
    expect(describeView(viewOf(base)).title).not.toContain('Settings:');
  });

  it('shows the GPU and its free memory', () => {
    const view = viewOf({ ...base, backend: 'cuda', backendNote: null, gpu: { name: 'NVIDIA H100', vramFreeBytes: 40 * 2 ** 30, vramTotalBytes: 80 * 2 ** 30 } });
    const { label, title } = describeView(view);
    expect(label).toBe('Datarus: gemma-3-270m · CUDA');
    expect(title).toContain('Backend: CUDA NVIDIA H100');
    expect(title).toContain('Free VRAM: 40.0 GiB of 80.0');
  });

  it('shows loading progress', () => {
    expect(describeView(viewOf({ ...base, state: 'loading', loadProgress: 0.42, model: null })).label).toBe('Datarus: loading 42%');
  });

  it('says why there is no model', () => {
    const { label, title } = describeView(viewOf({ ...base, state: 'idle', model: null, error: 'model "x" is not downloaded' }));
    expect(label).toBe('Datarus: no model');
    expect(title).toBe('model "x" is not downloaded');
  });

  it('says the host is down and why', () => {
    const { label, title } = describeView({ kind: 'error', message: 'Node.js was not found' });
    expect(label).toBe('Datarus: host down');
    expect(title).toBe('Node.js was not found');
  });
});

describe('runtime install', () => {
  const installing = { running: false, starts: 0, restarts: 0, lastExitCode: null, lastError: null, runtimeInstall: { progress: 0.4 } };

  it('shows the install progress while the host cannot answer yet', () => {
    const view = withProcessState({ kind: 'error', message: 'installing the model runtime 40%' }, installing);
    expect(describeView(view).label).toBe('Datarus: installing the model runtime 40%');
  });

  it('shows the host itself once it answers, and nothing new without an install', () => {
    expect(withProcessState(viewOf(base), installing).kind).toBe('ready');
    const down = { kind: 'error' as const, message: 'Node.js was not found' };
    expect(withProcessState(down, { ...installing, runtimeInstall: null })).toBe(down);
    expect(withProcessState(down, null)).toBe(down);
  });
});

describe('restart note', () => {
  it('says the host was restarted and how it last exited', () => {
    expect(restartNote({ running: true, starts: 3, restarts: 2, lastExitCode: -9, lastError: null })).toBe(
      'The model host stopped and was restarted 2 times (last exit code -9).'
    );
    expect(restartNote({ running: true, starts: 1, restarts: 0, lastExitCode: null, lastError: null })).toBe('');
    expect(restartNote(null)).toBe('');
  });
});
