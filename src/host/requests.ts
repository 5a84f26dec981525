/**
 * Request bodies of the generation API, validated by JSON schema so that every
 * bad field gets a precise message instead of a crash deep in the engine.
 */
import type { ErrorObject, JSONSchemaType } from 'ajv';

import type { ChatMessage } from '../protocol/messages';
import { formatAjvErrors } from './manifests';
import { bodySchema, Nullable, withoutNulls } from './routes/route';

export type { ChatMessage };

export interface GenerateRequest {
  episodeId?: string;
  messages?: ChatMessage[];
  prompt?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop?: string[];
  /** `datarus` for the built-in protocol grammar, or GBNF text. */
  grammar?: string;
}

/**
 * A generation request as it arrives: `null` stands for an absent field (as in
 * OpenAI's API), and `stream` (default true) chooses events or one JSON answer.
 */
export type GenerateBody = Nullable<GenerateRequest> & { stream?: boolean | null };

export const MAX_TOKENS_LIMIT = 1 << 20;

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

/** The generator's request: the body without `stream` and without its null fields. */
export function toGenerateRequest({ stream: _stream, ...body }: GenerateBody): GenerateRequest {
  return withoutNulls<GenerateRequest>(body);
}

/** Validates a generation request built by another API (the OpenAI-compatible one). */
export function parseGenerateRequest(body: unknown): GenerateRequest {
  return toGenerateRequest(generateBody.parse(body));
}
