import { describe as describeView, ShownStatus, restartNote, viewOf } from '../../src/lab/statusView';

const vulkanAfterCuda: ShownStatus = {
  version: '0.1.0',
  state: 'ready',
  error: null,
  backend: 'vulkan',
  backendNote: 'CUDA rejected: self-test failed: CUDA error: the provided PTX was compiled with an unsupported toolchain. (the process was killed by SIGABRT); running on Vulkan',
  backends: [
    { name: 'cuda', ok: false, cached: true, reason: 'self-test failed: CUDA error: the provided PTX was compiled with an unsupported toolchain.' },
    { name: 'vulkan', ok: true, cached: true, reason: null }
  ],
  gpu: { name: 'NVIDIA H200', vramFreeBytes: 100 * 2 ** 30, vramTotalBytes: 140 * 2 ** 30 },
  model: { name: 'datarus-r1-14b', path: '/m.gguf', sizeBytes: 9e9, trainContextSize: 32768, gpuLayers: 49, totalLayers: 49 },
  loadProgress: 1,
  contextSize: 16384,
  chatWrapper: 'ChatML',
  threads: 8,
  threadsChosenBy: 'default',
  cores: 16
};

describe('status bar on a GPU', () => {
  it('names Vulkan and says in words why CUDA was rejected', () => {
    const { label, title } = describeView(viewOf(vulkanAfterCuda));
    expect(label).toBe('Datarus: datarus-r1-14b · Vulkan');
    expect(title).toContain('Backend: Vulkan NVIDIA H200');
    expect(title).toContain('CUDA rejected: self-test failed: CUDA error: the provided PTX was compiled with an unsupported toolchain.');
    expect(title).toContain('; running on Vulkan');
    expect(title).toContain('Layers on the GPU: 49 of 49');
  });

  it('says how much of a model that did not fit is on the GPU', () => {
    const status = { ...vulkanAfterCuda, model: { ...vulkanAfterCuda.model!, gpuLayers: 30 } };
    expect(describeView(viewOf(status)).title).toContain('Layers on the GPU: 30 of 49 (not enough free VRAM for the rest; they run on the CPU)');
  });

  it('an explicit backend that failed shows as an error with the reason', () => {
    const status: ShownStatus = { ...vulkanAfterCuda, state: 'error', backend: null, model: null, error: '--gpu cuda was chosen and did not work (CUDA: …)' };
    const { label, title } = describeView(viewOf(status));
    expect(label).toBe('Datarus: host down');
    expect(title).toContain('--gpu cuda was chosen and did not work');
  });

  it('the restart note carries the crash-loop guard’s decision', () => {
    const note = restartNote({
      running: true,
      starts: 3,
      restarts: 2,
      lastExitCode: -6,
      lastError: null,
      crashNote: 'The model host died twice while starting on CUDA; it now starts with --gpu vulkan,cpu.'
    });
    expect(note).toBe(
      'The model host stopped and was restarted 2 times (last exit code -6). The model host died twice while starting on CUDA; it now starts with --gpu vulkan,cpu.'
    );
  });
});
