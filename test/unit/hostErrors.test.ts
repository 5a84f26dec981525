/**
 * Domain errors carry a code, one table turns codes into statuses, and every
 * route validates its body with its schema before its handler runs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JSONSchemaType } from 'ajv';

import { HOST_ERROR_CODES } from '../../src/contract/errors';
import { ModelLoadError } from '../../src/host/engine';
import { LogError } from '../../src/host/episodes/episodeStore';
import { DomainError } from '../../src/host/errors';
import { ManifestError } from '../../src/host/models/manifests';
import { generateBody, parseGenerateRequest, toGenerateRequest } from '../../src/host/http/routes/generate';
import { ERROR_STATUS, errorResponse } from '../../src/host/http/routes/errorStatus';
import { bodySchema, route } from '../../src/host/http/routes/route';

function thrown(f: () => unknown): DomainError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return err as DomainError;
  }
  throw new Error('expected a DomainError');
}

describe('error status table', () => {
  it('gives every contract code a status', () => {
    for (const code of HOST_ERROR_CODES) {
      expect(ERROR_STATUS[code]).toBeGreaterThanOrEqual(400);
    }
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...HOST_ERROR_CODES].sort());
  });

  it.each([
    ['a manifest error', new ManifestError('unknown model "x"'), 400, 'bad_model'],
    ['a load failure', new ModelLoadError('not a GGUF file'), 422, 'model_load_failed'],
    ['a log with a full disk', new LogError('the disk is full: the episode was not logged', 'disk_full'), 507, 'disk_full'],
    ['an empty episode', new LogError('nothing to log', 'invalid_request'), 400, 'invalid_request'],
    ['a log that cannot be read', new LogError('the episode log could not be read'), 500, 'log_failed'],
    ['a busy episode', new DomainError('episode_busy', 'episode x is already generating'), 409, 'episode_busy'],
    ['full slots', new DomainError('too_many_episodes', 'all 4 episode slots are generating'), 429, 'too_many_episodes'],
    ['anything else', new TypeError('undefined is not a function'), 500, 'internal_error']
  ])('answers %s with its status, code and message', (_name, err, status, code) => {
    const response = errorResponse(err);
    expect(response.status).toBe(status);
    expect(response.body.error).toEqual({
      code,
      message: (err as Error).message,
      type: status >= 500 ? 'server_error' : 'invalid_request_error'
    });
  });
});

describe('route bodies', () => {
  interface Rating {
    episodeId: string;
    rating: 'up' | 'down';
  }
  const schema: JSONSchemaType<Rating> = {
    description: 'body must be {"episodeId": string, "rating": "up" | "down"}',
    type: 'object',
    required: ['episodeId', 'rating'],
    properties: { episodeId: { type: 'string' }, rating: { type: 'string', enum: ['up', 'down'] } }
  };
  const res = {} as ServerResponse;
  const req = {} as IncomingMessage;

  it('reach the handler validated and typed', async () => {
    const seen: Rating[] = [];
    const r = route('POST', /^\/x$/, bodySchema(schema), async ({ body }) => void seen.push(body));
    await r.handle(req, res, { episodeId: 'ep-1', rating: 'up' }, []);
    expect(seen).toEqual([{ episodeId: 'ep-1', rating: 'up' }]);
  });

  it('are refused with invalid_request, saying what the body must be and what is wrong', async () => {
    const handler = jest.fn(async () => undefined);
    const r = route('POST', /^\/x$/, bodySchema(schema), handler);
    await expect(r.handle(req, res, { episodeId: 'ep-1', rating: 'meh' }, [])).rejects.toMatchObject({
      code: 'invalid_request',
      message: expect.stringMatching(/^body must be \{"episodeId".*: \/rating must be equal to one of the allowed values$/)
    });
    expect(handler).not.toHaveBeenCalled();
  });
});

describe('generation requests', () => {
  it('say which input is missing in one sentence', () => {
    expect(thrown(() => generateBody.parse({ maxTokens: 4 })).message).toBe(
      'invalid generation request: give exactly one of "messages" (a chat) or "prompt" (raw text)'
    );
  });

  it('report a bad field by its path', () => {
    expect(thrown(() => parseGenerateRequest({ prompt: 'Q', maxTokens: 0 })).message).toBe('invalid generation request: /maxTokens must be >= 1');
    expect(thrown(() => generateBody.parse({ prompt: 'Q', stream: 'yes' })).message).toBe('invalid generation request: /stream must be boolean');
  });

  it('treat a null field as absent and leave stream out of the generator request', () => {
    expect(toGenerateRequest(generateBody.parse({ prompt: 'Q', maxTokens: null, stream: false }))).toEqual({ prompt: 'Q' });
  });
});
