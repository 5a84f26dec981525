/**
 * Turns notebook outputs into the observation text the model reads: stream
 * text, results, short descriptions of images, and errors without ANSI
 * escapes, truncated with a visible marker past a size limit.
 */
import type { ObservationStyle } from '../protocol/profiles';
import type { ExecutionResult, NbOutput } from './types';

/** The reference harness's cap on an observation. */
export const DEFAULT_OBSERVATION_LIMIT = 10000;

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]|\u001b\][^\u0007]*\u0007/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

function joinText(text: string | string[] | undefined): string {
  return Array.isArray(text) ? text.join('') : (text ?? '');
}

/** Width × height of a base64 PNG or GIF, read from its header; null when unknown. */
export function imageSize(mime: string, base64: string): { width: number; height: number } | null {
  try {
    const head = atob(base64.replace(/\s/g, '').slice(0, 64));
    const byte = (i: number) => head.charCodeAt(i);
    if (mime === 'image/png' && head.slice(1, 4) === 'PNG') {
      const u32 = (i: number) => ((byte(i) << 24) | (byte(i + 1) << 16) | (byte(i + 2) << 8) | byte(i + 3)) >>> 0;
      return { width: u32(16), height: u32(20) };
    }
    if (mime === 'image/gif' && head.startsWith('GIF')) {
      return { width: byte(6) | (byte(7) << 8), height: byte(8) | (byte(9) << 8) };
    }
  } catch {
    // not base64: no size
  }
  return null;
}

/** What a rich output says in text: its text/plain, or a description of what it shows. */
function describeData(data: Record<string, unknown>): string {
  const images = Object.keys(data).filter(m => m.startsWith('image/'));
  if (images.length > 0) {
    const mime = images.includes('image/png') ? 'image/png' : images[0];
    const raw = data[mime];
    const size = typeof raw === 'string' ? imageSize(mime, raw) : null;
    return size ? `[${mime} ${size.width}×${size.height}]` : `[${mime}]`;
  }
  if ('text/plain' in data) {
    return joinText(data['text/plain'] as string | string[]);
  }
  const kinds = Object.keys(data);
  return kinds.length ? `[${kinds[0]} output]` : '';
}

export function renderOutput(output: NbOutput): string {
  switch (output.output_type) {
    case 'stream':
      return stripAnsi(joinText(output.text));
    case 'execute_result':
    case 'display_data':
    case 'update_display_data':
      return describeData(output.data ?? {});
    case 'error':
      return stripAnsi((output.traceback ?? [`${output.ename}: ${output.evalue}`]).join('\n'));
    default:
      return '';
  }
}

/** Cuts the middle out of a too-long text, saying how much was cut. */
export function truncateMiddle(text: string, limit: number): string {
  if (text.length <= limit) {
    return text;
  }
  const marker = (n: number) => `\n… [${n} characters truncated] …\n`;
  const keep = Math.max(0, limit - marker(text.length).length);
  const head = Math.ceil(keep * 0.6);
  const tail = keep - head;
  return text.slice(0, head) + marker(text.length - keep) + text.slice(text.length - tail);
}

/** The whole observation for one executed step, in a profile's style. */
export function observationFor(result: ExecutionResult, style: ObservationStyle, limit: number, timeoutMs?: number): string {
  return style === 'harness' ? renderHarnessObservation(result, limit, timeoutMs) : renderObservation(result, limit, timeoutMs);
}

/**
 * The reference harness's observation: stream text and `text/plain` results
 * joined by newlines; on an error, "Output before error:" and what was
 * printed, then "Error: NAME: VALUE" and the traceback. Kept from the head,
 * with the harness's marker when cut (see src/protocol/profiles.ts).
 */
export function renderHarnessObservation(result: ExecutionResult, limit: number, timeoutMs?: number): string {
  const printed: string[] = [];
  const error: string[] = [];
  for (const output of result.outputs) {
    if (output.output_type === 'stream') {
      printed.push(stripAnsi(joinText(output.text)));
    } else if (output.output_type === 'execute_result' || output.output_type === 'display_data') {
      if (output.data && 'text/plain' in output.data) {
        printed.push(joinText(output.data['text/plain'] as string | string[]));
      }
    } else if (output.output_type === 'error') {
      if (printed.length && error.length === 0) {
        error.push('Output before error:', ...printed, '');
      }
      error.push(`Error: ${output.ename ?? 'Error'}: ${output.evalue ?? ''}`);
      for (const line of output.traceback ?? []) {
        const clean = stripAnsi(line);
        if (clean.includes('-->') && clean.includes('ipython-input')) {
          error.push(`Line that caused error: ${clean.trim()}`);
        }
        error.push(clean);
      }
    }
  }
  let text = error.length ? error.join('\n') : printed.join('\n');
  if (result.status === 'timeout') {
    text += `${text ? '\n' : ''}Error: TimeoutError: the cell ran past the ${Math.round((timeoutMs ?? 0) / 1000)} s limit and was interrupted`;
  } else if (result.status === 'aborted') {
    text += `${text ? '\n' : ''}[the cell was stopped by the user]`;
  }
  return text.length > limit ? `${text.slice(0, limit)}\n... [OUTPUT TRUNCATED]` : text;
}

/** The whole observation for one executed step (this project's style). */
export function renderObservation(result: ExecutionResult, limit = DEFAULT_OBSERVATION_LIMIT, timeoutMs?: number): string {
  const parts = result.outputs.map(renderOutput).filter(p => p !== '');
  let text = parts.map(p => p.replace(/\n$/, '')).join('\n');
  if (result.status === 'timeout') {
    text += `${text ? '\n' : ''}[the cell ran past the ${Math.round((timeoutMs ?? 0) / 1000)} s limit and was interrupted]`;
  } else if (result.status === 'aborted') {
    text += `${text ? '\n' : ''}[the cell was stopped by the user]`;
  } else if (text === '') {
    text = '[the code ran without output]';
  }
  return truncateMiddle(text, limit);
}

/** The error an execution raised, if any. */
export function executionError(result: ExecutionResult): { ename: string; evalue: string } | null {
  const error = result.outputs.find(o => o.output_type === 'error');
  if (error) {
    return { ename: error.ename ?? 'Error', evalue: error.evalue ?? '' };
  }
  return result.status === 'timeout' ? { ename: 'TimeoutError', evalue: 'cell time limit' } : null;
}
