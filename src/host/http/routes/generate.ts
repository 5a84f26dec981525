/**
 * `/api/generate` and the episodes it keeps: a generation streamed as
 * server-sent events (`chunk` events with text as it is generated, then one
 * `done` event with the result, or `error`), or with `"stream": false` the
 * result as one JSON object; cancelling and ending an episode.
 */
import type { ErrorObject, JSONSchemaType } from 'ajv';

import { CountTokensRequest, CountTokensResult, GENERATE_EVENT, GenerateRequest } from '../../../contract';
import type { Engine } from '../../engine';
import { formatAjvErrors } from '../../models/manifests';
import { abortOnDisconnect, sendGenerateEvent, startEventStream } from '../sse';
import { errorEvent } from './errorStatus';
import { bodySchema, Nullable, Route, route, sendJson, withoutNulls } from './route';

/**
 * A generation request as it arrives: `null` stands for an absent field (as in
 * OpenAI's API), and `stream` (default true) chooses events or one JSON answer.
 */
export type GenerateBody = Nullable<GenerateRequest> & { stream?: boolean | null };

/** The most tokens one request may ask for. */
export const MAX_TOKENS_LIMIT = 1 << 20;

// Every field is bounded here, so a bad one gets a precise message instead of a crash deep in the engine.
const generateProperties: JSONSchemaType<GenerateBody>['properties'] = {
  episodeId: { type: 'string', nullable: true, pattern: '^[A-Za-z0-9._:-]{1,128}$' },
  messages: {
    type: 'array',
    nullable: true,
    minItems: 1,
    maxItems: 10000,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['role', 'content'],
      properties: { role: { type: 'string', enum: ['system', 'user', 'assistant'] }, content: { type: 'string' } }
    }
  },
  prompt: { type: 'string', nullable: true, minLength: 1 },
  maxTokens: { type: 'integer', nullable: true, minimum: 1, maximum: MAX_TOKENS_LIMIT },
  temperature: { type: 'number', nullable: true, minimum: 0, maximum: 2 },
  topP: { type: 'number', nullable: true, exclusiveMinimum: 0, maximum: 1 },
  topK: { type: 'integer', nullable: true, minimum: 0 },
  seed: { type: 'integer', nullable: true, minimum: 0, maximum: 4294967295 },
  stop: { type: 'array', nullable: true, maxItems: 16, items: { type: 'string', minLength: 1, maxLength: 256 } },
  grammar: { type: 'string', nullable: true, minLength: 1, maxLength: 100000 },
  stream: { type: 'boolean', nullable: true }
};

/** ajv reports a missing choice as a `oneOf` and two `required`s: one sentence says it better. */
function describeGenerateErrors(errors: ErrorObject[]): string {
  if (errors.some(e => e.keyword === 'oneOf')) {
    return 'give exactly one of "messages" (a chat) or "prompt" (raw text)';
  }
  return formatAjvErrors(errors.filter(e => e.keyword !== 'required')) || formatAjvErrors(errors);
}

export const generateBody = bodySchema<GenerateBody>(
  {
    description: 'invalid generation request',
    type: 'object',
    additionalProperties: false,
    properties: generateProperties,
    oneOf: [{ required: ['messages'] }, { required: ['prompt'] }]
  },
  describeGenerateErrors
);

const countBody = bodySchema<CountTokensRequest>({
  description: 'invalid token count request',
  type: 'object',
  additionalProperties: false,
  required: ['messages'],
  properties: { episodeId: generateProperties.episodeId as never, messages: { ...(generateProperties.messages as object), nullable: false } as never }
});

/** The generator's request: the body without `stream` and without its null fields. */
export function toGenerateRequest({ stream: _stream, ...body }: GenerateBody): GenerateRequest {
  return withoutNulls<GenerateRequest>(body);
}

/** Validates a generation request built by another API (the OpenAI-compatible one). */
export function parseGenerateRequest(body: unknown): GenerateRequest {
  return toGenerateRequest(generateBody.parse(body));
}

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
            sendGenerateEvent(res, { event: GENERATE_EVENT.chunk, data: { text } });
          },
          signal
        );
        start();
        sendGenerateEvent(res, { event: GENERATE_EVENT.done, data: result });
      } catch (err) {
        if (!started) {
          throw err; // nothing sent yet: answer with a plain JSON error
        }
        sendGenerateEvent(res, { event: GENERATE_EVENT.error, data: errorEvent(err) });
      }
      res.end();
    }),
    route('POST', /^\/api\/tokens$/, countBody, async ({ res, body }) => {
      const generator = engine.generator;
      const result: CountTokensResult = { tokens: generator.countTokens(body.messages, body.episodeId), contextSize: generator.contextSize };
      sendJson(res, 200, result);
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
