/** Small helpers shared by the benchmarks. */
import * as net from 'node:net';

import { errorMessage, readEvents } from '../agent/sse';

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise(r => server.once('listening', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise(r => server.close(r));
  return port;
}

/** A generation streamed through the host's HTTP API, timed as the client sees its chunks. */
export interface TimedStream {
  /** Completion tokens the host reports in its `done` event. */
  tokens: number;
  /** Milliseconds from the request to the first and to the last chunk. */
  firstMs: number;
  lastMs: number;
  /** Tokens after the first, per second between the first and the last chunk. */
  tokensPerSecond: number;
  /** The host's `done` event. */
  done: any;
}

export async function streamGenerate(host: { url: string; token: string }, body: object, t0 = performance.now()): Promise<TimedStream> {
  const response = await fetch(`${host.url}/api/generate`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${host.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body)
  });
  if (!response.ok) {
    throw new Error(`generate answered ${response.status}: ${await errorMessage(response)}`);
  }
  let first: number | null = null;
  let last = 0;
  let done: any = null;
  await readEvents(response, event => {
    if (event.event === 'chunk') {
      last = performance.now();
      first ??= last;
    } else if (event.event === 'done') {
      done = JSON.parse(event.data);
    } else if (event.event === 'error') {
      throw new Error(`the host reported an error mid-stream: ${event.data}`);
    }
  });
  if (!done) {
    throw new Error('the stream ended without a done event');
  }
  const tokens = done.usage.completionTokens as number;
  const firstMs = (first ?? last) - t0;
  const lastMs = last - t0;
  return { tokens, firstMs, lastMs, tokensPerSecond: ((tokens - 1) * 1000) / Math.max(1e-6, lastMs - firstMs), done };
}
