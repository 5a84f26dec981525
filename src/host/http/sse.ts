/** Server-sent events on a Node response: headers once, then one event per write. */
import type { ServerResponse } from 'node:http';

import type { GenerateEvent } from '../../contract';

export function startEventStream(res: ServerResponse): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no'
  });
  res.flushHeaders();
}

/** Writes one event; `event` omitted gives a plain `data:` line (the OpenAI style). */
export function sendEvent(res: ServerResponse, data: unknown, event?: string): void {
  if (res.writableEnded || res.destroyed) {
    return;
  }
  const payload = typeof data === 'string' ? data : JSON.stringify(data);
  res.write(`${event ? `event: ${event}\n` : ''}data: ${payload}\n\n`);
}

/** Writes one event of a generation stream (`POST /api/generate`). */
export function sendGenerateEvent(res: ServerResponse, { event, data }: GenerateEvent): void {
  sendEvent(res, data, event);
}

/** An AbortSignal that fires when the client goes away before the answer is complete. */
export function abortOnDisconnect(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) {
      controller.abort();
    }
  });
  return controller.signal;
}
