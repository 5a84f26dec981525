import type { Write } from './progress';

/**
 * Ctrl-C: the first aborts the running episodes (they end as stopped and
 * what is being written is finished); the second leaves at once.
 */
export function interruptible(write: Write): { signal: AbortSignal; interrupted: () => boolean; release: () => void } {
  const abort = new AbortController();
  const onSignal = (name: string) => {
    if (abort.signal.aborted) {
      write(`${name} again: leaving now`);
      process.exit(130);
    }
    write(`${name}: stopping the running episodes (again to leave at once)`);
    abort.abort();
  };
  const onInt = () => onSignal('Ctrl-C');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: abort.signal,
    interrupted: () => abort.signal.aborted,
    release: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  };
}
