/**
 * What the status-bar item says for each state of the model host: a short
 * label and a tooltip with the details. Pure, so it is unit-tested.
 */
import type { Backend, HostStatus, LoadedModelStatus } from '../contract';
import type { HostProcessState } from './tokens';

/**
 * What the status bar reads of the host's status. The model's layer count and
 * profile, and the list of backends, may be missing: a host older than this
 * plugin did not report them.
 */
export type ShownStatus = Pick<
  HostStatus,
  'version' | 'state' | 'error' | 'backend' | 'backendNote' | 'gpu' | 'loadProgress' | 'contextSize' | 'chatWrapper' | 'threads' | 'threadsChosenBy' | 'cores'
> &
  Partial<Pick<HostStatus, 'backends'>> & {
    model: (Omit<LoadedModelStatus, 'totalLayers' | 'promptProfile' | 'settings'> & Partial<Pick<LoadedModelStatus, 'totalLayers' | 'promptProfile' | 'settings'>>) | null;
  };

const BACKEND_LABELS: Record<Backend, string> = { cpu: 'CPU', cuda: 'CUDA', cuda12: 'CUDA 12', vulkan: 'Vulkan', metal: 'Metal' };

function backendLabel(backend: Backend | null): string {
  return backend ? BACKEND_LABELS[backend] ?? backend : '?';
}

/** "Layers on the GPU: 40 of 49 (the rest run on the CPU)" when a model did not fit in VRAM. */
function layersLine(model: NonNullable<ShownStatus['model']>): string | null {
  const total = model.totalLayers;
  if (!total || model.gpuLayers === 0) {
    return null;
  }
  return model.gpuLayers < total
    ? `Layers on the GPU: ${model.gpuLayers} of ${total} (not enough free VRAM for the rest; they run on the CPU)`
    : `Layers on the GPU: ${model.gpuLayers} of ${total}`;
}

export type StatusView =
  | { kind: 'ready'; status: ShownStatus }
  | { kind: 'loading'; status: ShownStatus }
  | { kind: 'idle'; status: ShownStatus }
  | { kind: 'error'; message: string; status?: ShownStatus }
  | { kind: 'installing'; progress: number }
  | { kind: 'connecting' };

/** What the item shows for a view: short label and a tooltip with the details. */
export function describe(view: StatusView): { label: string; title: string } {
  switch (view.kind) {
    case 'connecting':
      return { label: 'Datarus: starting…', title: 'Starting the Datarus model host' };
    case 'installing':
      return {
        label: `Datarus: installing the model runtime ${Math.round(view.progress * 100)}%`,
        title: 'First start: installing node-llama-cpp, the native part of the model host (once; needs the npm registry)'
      };
    case 'loading':
      return {
        label: `Datarus: loading ${Math.round(view.status.loadProgress * 100)}%`,
        title: 'The model host is loading a model'
      };
    case 'idle':
      return { label: 'Datarus: no model', title: view.status.error ?? 'The model host has no model loaded' };
    case 'error':
      return { label: 'Datarus: host down', title: view.message };
    case 'ready': {
      const s = view.status;
      const threads = `${s.threads} thread${s.threads === 1 ? '' : 's'}${s.threadsChosenBy === 'measured' ? ' (measured)' : ''}`;
      const backend = s.backend === 'cpu' ? `CPU, ${threads}` : `${backendLabel(s.backend)} ${s.gpu?.name ?? ''}`.trim();
      const lines = [
        `Model: ${s.model!.name}`,
        `Backend: ${backend}`,
        layersLine(s.model!),
        s.gpu ? `Free VRAM: ${(s.gpu.vramFreeBytes / 2 ** 30).toFixed(1)} GiB of ${(s.gpu.vramTotalBytes / 2 ** 30).toFixed(1)}` : null,
        `Context: ${s.contextSize} tokens`,
        settingsLine(s.model!),
        s.chatWrapper ? `Chat template: ${s.chatWrapper}` : null,
        `Host ${s.version}`,
        s.backendNote
      ].filter(Boolean);
      return { label: `Datarus: ${s.model!.name} · ${backendLabel(s.backend)}`, title: lines.join('\n') };
    }
  }
}

/** Which profile and context the model runs with, and why (its manifest, or its GGUF metadata). */
function settingsLine(model: NonNullable<ShownStatus['model']>): string | null {
  if (!model.settings) {
    return null; // a host from before settings were reported
  }
  const overridden = model.settings.overridden.length ? `; given: ${model.settings.overridden.join(', ')}` : '';
  return `Settings: profile ${model.promptProfile ?? 'generic'} — ${model.settings.reason}${overridden}`;
}

/** A line saying the host crashed and was restarted, for the tooltip; empty when it never did. */
export function restartNote(state: HostProcessState | null): string {
  if (!state || (state.restarts === 0 && !state.crashNote)) {
    return '';
  }
  const code = state.lastExitCode === null ? '' : ` (last exit code ${state.lastExitCode})`;
  const restarts = state.restarts > 0 ? `The model host stopped and was restarted ${state.restarts} time${state.restarts === 1 ? '' : 's'}${code}.` : '';
  return [restarts, state.crashNote].filter(Boolean).join(' ');
}

/** While the server extension installs the model runtime, that is what the item shows. */
export function withProcessState(view: StatusView, state: HostProcessState | null): StatusView {
  return state?.runtimeInstall && view.kind === 'error' ? { kind: 'installing', progress: state.runtimeInstall.progress } : view;
}

export function viewOf(status: ShownStatus): StatusView {
  if (status.state === 'ready' && status.model) {
    return { kind: 'ready', status };
  }
  if (status.state === 'loading' || status.state === 'starting') {
    return { kind: 'loading', status };
  }
  if (status.state === 'error') {
    return { kind: 'error', message: status.error ?? 'The model host failed', status };
  }
  return { kind: 'idle', status };
}

