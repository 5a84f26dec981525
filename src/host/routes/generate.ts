/**
 * `/api/generate` and the episodes it keeps: a generation streamed as
 * server-sent events (`chunk` events with text as it is generated, then one
 * `done` event with the result, or `error`), or with `"stream": false` the
 * result as one JSON object; cancelling and ending an episode.
 */
import type { Engine } from '../engine';
import { generateBody, toGenerateRequest } from '../requests';
import { abortOnDisconnect, sendEvent, startEventStream } from '../sse';
import { errorEvent } from './errorStatus';
import { Route, route, sendJson } from './route';

export function generateRoutes(engine: Engine): Route[] {
  return [
    route('POST', /^\/api\/generate$/, generateBody, async ({ res, body }) => {
      const request = toGenerateRequest(body);
      const generator = engine.generator;
      const signal = abortOnDisconnect(res);
      if (body.stream === false) {
        sendJson(res, 200, await generator.generate(request, () => undefined, signal));
        return;
      }
      let started = false;
      const start = () => {
        if (!started) {
          startEventStream(res);
          started = true;
        }
      };
      try {
        const result = await generator.generate(
          request,
          text => {
            start();
            sendEvent(res, { text }, 'chunk');
          },
          signal
        );
        start();
        sendEvent(res, result, 'done');
      } catch (err) {
        if (!started) {
          throw err; // nothing sent yet: answer with a plain JSON error
        }
        sendEvent(res, errorEvent(err), 'error');
      }
      res.end();
    }),
    // Neither reads a body: the episode is in the path.
    route('POST', /^\/api\/episodes\/([^/]+)\/cancel$/, null, async ({ res, params: [id] }) =>
      sendJson(res, 200, { episodeId: id, ...engine.generator.cancel(id) })
    ),
    route('DELETE', /^\/api\/episodes\/([^/]+)$/, null, async ({ res, params: [id] }) =>
      sendJson(res, 200, { episodeId: id, ended: await engine.generator.end(id) })
    )
  ];
}
