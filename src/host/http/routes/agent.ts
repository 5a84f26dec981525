/**
 * `/api/agent/sessions`: agent sessions for clients that run the code in
 * their own kernel (the `%%datarus` magic). Start one, read its events by
 * long polling, answer what it asks, stop it.
 */
import type { JSONSchemaType } from 'ajv';

import type { AgentReflectRequest, AgentSessionAnswer, AgentSessionRequest } from '../../../contract';
import type { AgentSessions } from '../../sessions/agentSessions';
import { DomainError } from '../../errors';
import { bodySchema, NullableOptionals, Route, route, sendJson, withoutNulls } from './route';

/** The longest a poll waits for an event. */
const MAX_WAIT_MS = 30_000;

const sessionBody = bodySchema<NullableOptionals<AgentSessionRequest>>({
  description: 'invalid agent session request',
  type: 'object',
  additionalProperties: false,
  required: ['question'],
  properties: {
    question: { type: 'string', minLength: 1, maxLength: 100_000 },
    maxSteps: { type: 'integer', nullable: true, minimum: 1, maximum: 200 },
    approval: { type: 'string', nullable: true, enum: ['ask', 'auto'] },
    canAsk: { type: 'boolean', nullable: true },
    temperature: { type: 'number', nullable: true, minimum: 0, maximum: 2 },
    model: { type: 'string', nullable: true, minLength: 1 },
    baseUrl: { type: 'string', nullable: true, minLength: 1 },
    apiKey: { type: 'string', nullable: true },
    log: { type: 'boolean', nullable: true },
    dataFiles: { type: 'array', nullable: true, maxItems: 16, items: { type: 'string', minLength: 1, maxLength: 4096 } },
    cellTimeoutSeconds: { type: 'number', nullable: true, exclusiveMinimum: 0 },
    grammars: { type: 'array', nullable: true, maxItems: 200, items: { type: 'string', minLength: 1, maxLength: 100_000 } }
  }
} as JSONSchemaType<NullableOptionals<AgentSessionRequest>>);

/** The cells' outputs are read as the context reads any output: only their outline is checked. */
const reflectBody = bodySchema<NullableOptionals<AgentReflectRequest>>({
  description: 'body must be {"cells": [{"cellType", "source", "outputs"?}], "maxTokens"?, "temperature"?, "grammar"?}',
  type: 'object',
  additionalProperties: false,
  required: ['cells'],
  properties: {
    cells: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: {
        type: 'object',
        required: ['cellType', 'source'],
        properties: {
          cellType: { type: 'string', enum: ['code', 'markdown', 'raw'] },
          source: { type: 'string' },
          outputs: { type: 'array', nullable: true, items: { type: 'object', required: ['output_type'], properties: { output_type: { type: 'string' } } } }
        }
      }
    },
    maxTokens: { type: 'integer', nullable: true, minimum: 1, maximum: 65536 },
    temperature: { type: 'number', nullable: true, minimum: 0, maximum: 2 },
    grammar: { type: 'string', nullable: true, minLength: 1, maxLength: 100_000 }
  }
} as unknown as JSONSchemaType<NullableOptionals<AgentReflectRequest>>);

/** Only the answer's outline is checked here: the runner checks a run's outputs as it reads them. */
interface AnswerBody {
  ask: number;
  answer: { kind: 'run' | 'inspect' | 'approve' };
}

const answerBody = bodySchema<AnswerBody>({
  description: 'body must be {"ask": <the ask event\'s number>, "answer": {"kind": "run" | "inspect" | "approve", ...}}',
  type: 'object',
  required: ['ask', 'answer'],
  properties: {
    ask: { type: 'integer', minimum: 1 },
    answer: { type: 'object', required: ['kind'], properties: { kind: { type: 'string', enum: ['run', 'inspect', 'approve'] } } }
  }
} satisfies JSONSchemaType<AnswerBody>);

function intParam(url: URL, name: string, fallback: number): number {
  const raw = url.searchParams.get(name);
  const value = raw === null ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new DomainError('invalid_request', `${name} must be a whole number ≥ 0`);
  }
  return value;
}

export function agentRoutes(sessions: AgentSessions): Route[] {
  return [
    route('POST', /^\/api\/agent\/sessions$/, sessionBody, async ({ res, body }) =>
      sendJson(res, 201, await sessions.start(withoutNulls<AgentSessionRequest>(body)))
    ),
    route('POST', /^\/api\/agent\/reflect$/, reflectBody, async ({ res, body }) =>
      sendJson(res, 200, await sessions.reflect(withoutNulls<AgentReflectRequest>(body)))
    ),
    route('GET', /^\/api\/agent\/sessions\/([^/]+)\/events$/, null, async ({ req, res, params: [id] }) => {
      const url = new URL(req.url ?? '/', 'http://host');
      const session = sessions.get(id);
      sendJson(res, 200, await session.events(intParam(url, 'after', 0), Math.min(intParam(url, 'waitMs', 0), MAX_WAIT_MS)));
    }),
    route('POST', /^\/api\/agent\/sessions\/([^/]+)\/answers$/, answerBody, async ({ res, body, params: [id] }) =>
      sendJson(res, 200, { accepted: sessions.get(id).answer(body.ask, body.answer as AgentSessionAnswer) })
    ),
    route('POST', /^\/api\/agent\/sessions\/([^/]+)\/abort$/, null, async ({ res, params: [id] }) => {
      const session = sessions.get(id);
      session.abort.abort();
      sendJson(res, 200, { aborted: true, done: session.done });
    })
  ];
}
