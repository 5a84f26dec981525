/**
 * Request bodies of the generation API, validated by JSON schema so that every
 * bad field gets a precise message instead of a crash deep in the engine.
 */
import Ajv from 'ajv';

import type { GenerateRequest } from '../contract';
import { formatAjvErrors } from './manifests';
import { HttpError } from './httpError';

export const MAX_TOKENS_LIMIT = 1 << 20;

const generateSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    episodeId: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
    messages: {
      type: 'array',
      minItems: 1,
      maxItems: 10000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['role', 'content'],
        properties: { role: { enum: ['system', 'user', 'assistant'] }, content: { type: 'string' } }
      }
    },
    prompt: { type: 'string', minLength: 1 },
    maxTokens: { type: 'integer', minimum: 1, maximum: MAX_TOKENS_LIMIT },
    temperature: { type: 'number', minimum: 0, maximum: 2 },
    topP: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    topK: { type: 'integer', minimum: 0 },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
    stop: { type: 'array', maxItems: 16, items: { type: 'string', minLength: 1, maxLength: 256 } },
    grammar: { type: 'string', minLength: 1, maxLength: 100000 }
  },
  oneOf: [{ required: ['messages'] }, { required: ['prompt'] }]
} as const;

const ajv = new Ajv({ allErrors: true });
const validateGenerate = ajv.compile<GenerateRequest>(generateSchema);

export function parseGenerateRequest(body: unknown): GenerateRequest {
  if (!validateGenerate(body)) {
    const errors = validateGenerate.errors ?? [];
    const oneOf = errors.some(e => e.keyword === 'oneOf');
    const message = oneOf
      ? 'give exactly one of "messages" (a chat) or "prompt" (raw text)'
      : formatAjvErrors(errors.filter(e => e.keyword !== 'oneOf' && e.keyword !== 'required'));
    throw new HttpError(400, 'invalid_request', `invalid generation request: ${message || formatAjvErrors(errors)}`);
  }
  return body;
}
