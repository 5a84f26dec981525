/**
 * Connection settings for a Jupyter server from Node: `@jupyterlab/services`
 * needs a WebSocket implementation and `fetch` handed to it outside a browser.
 * Shared by the headless commands, the benchmarks and the integration tests.
 */
import type { ServerConnection } from '@jupyterlab/services';

/** Settings for the server at `url` (trailing slash optional) with `token`. */
export async function nodeServerSettings(url: string, token: string): Promise<ServerConnection.ISettings> {
  const { ServerConnection } = await import('@jupyterlab/services');
  const { default: WebSocket } = await import('ws');
  const baseUrl = url.endsWith('/') ? url : `${url}/`;
  return ServerConnection.makeSettings({
    baseUrl,
    wsUrl: baseUrl.replace(/^http/, 'ws'),
    token,
    appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    fetch: fetch as typeof globalThis.fetch
  });
}
