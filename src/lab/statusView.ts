/**
 * What the status-bar item says for each state of the model host: a short
 * label and a tooltip with the details. Pure, so it is unit-tested.
 */
import { HostProcessState, HostStatus } from './api';

export type StatusView =
  | { kind: 'ready'; status: HostStatus }
  | { kind: 'loading'; status: HostStatus }
  | { kind: 'idle'; status: HostStatus }
  | { kind: 'error'; message: string; status?: HostStatus }
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
      const backend = s.backend === 'cpu' ? `CPU, ${threads}` : `${s.backend?.toUpperCase()} ${s.gpu?.name ?? ''}`.trim();
      const lines = [
        `Model: ${s.model!.name}`,
        `Backend: ${backend}`,
        s.gpu ? `Free VRAM: ${(s.gpu.vramFreeBytes / 2 ** 30).toFixed(1)} GiB of ${(s.gpu.vramTotalBytes / 2 ** 30).toFixed(1)}` : null,
        `Context: ${s.contextSize} tokens`,
        s.chatWrapper ? `Chat template: ${s.chatWrapper}` : null,
        `Host ${s.version}`,
        s.backendNote
      ].filter(Boolean);
      return { label: `Datarus: ${s.model!.name} · ${s.backend === 'cpu' ? 'CPU' : s.backend?.toUpperCase()}`, title: lines.join('\n') };
    }
  }
}

/** A line saying the host crashed and was restarted, for the tooltip; empty when it never did. */
export function restartNote(state: HostProcessState | null): string {
  if (!state || state.restarts === 0) {
    return '';
  }
  const code = state.lastExitCode === null ? '' : ` (last exit code ${state.lastExitCode})`;
  return `The model host stopped and was restarted ${state.restarts} time${state.restarts === 1 ? '' : 's'}${code}.`;
}

/** While the server extension installs the model runtime, that is what the item shows. */
export function withProcessState(view: StatusView, state: HostProcessState | null): StatusView {
  return state?.runtimeInstall && view.kind === 'error' ? { kind: 'installing', progress: state.runtimeInstall.progress } : view;
}

export function viewOf(status: HostStatus): StatusView {
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

