/**
 * OpenAI-compatible endpoints over the host's generator, so the official
 * OpenAI clients and tools such as jupyter-ai can use the hosted model:
 * `/v1/models`, `/v1/chat/completions`, `/v1/completions`, streaming or not.
 * Only the fields below are read; unknown fields are ignored, as OpenAI-compatible
 * servers commonly do, and sampling fields are checked like the native API's.
 * `grammar` is llama.cpp's server's extension (GBNF text), read the same way
 * here (also `datarus`, the protocol grammar, as in the native API).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { JSONSchemaType } from 'ajv';

import type { ChatMessage, GenerateRequest, GenerateResult } from '../../../contract';
import type { Engine } from '../../engine';
import { DomainError } from '../../errors';
import { abortOnDisconnect, sendEvent, startEventStream } from '../sse';
import { parseGenerateRequest } from './generate';
import { bodySchema, Route, route, sendJson } from './route';

interface TextPart {
  type: 'text';
  text: string;
}

interface OpenAIMessage {
  /** `developer` is OpenAI's newer name for `system`. */
  role: 'system' | 'user' | 'assistant' | 'developer';
  content: string | TextPart[];
}

/** The fields both endpoints read; ranges are checked by the native request's schema, in its words. */
interface CommonBody {
  model?: string | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
  grammar?: string | null;
}

interface ChatBody extends CommonBody {
  messages: OpenAIMessage[];
}

interface CompletionBody extends CommonBody {
  /** One prompt: a string, or a list holding one string. */
  prompt: string | string[];
}

const commonProperties = {
  model: { type: 'string', nullable: true },
  max_tokens: { type: 'integer', nullable: true },
  max_completion_tokens: { type: 'integer', nullable: true },
  temperature: { type: 'number', nullable: true },
  top_p: { type: 'number', nullable: true },
  seed: { type: 'integer', nullable: true },
  stop: { type: ['string', 'array'], nullable: true, anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
  stream: { type: 'boolean', nullable: true },
  grammar: { type: 'string', nullable: true }
} as const;

const chatBody = bodySchema<ChatBody>({
  description: 'invalid chat completion request',
  type: 'object',
  required: ['messages'],
  properties: {
    ...commonProperties,
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role', 'content'],
        properties: {
          role: { type: 'string', enum: ['system', 'user', 'assistant', 'developer'] },
          content: {
            anyOf: [
              { type: 'string' },
              {
                type: 'array',
                items: { type: 'object', required: ['type', 'text'], properties: { type: { type: 'string', const: 'text' }, text: { type: 'string' } } }
              }
            ]
          }
        }
      }
    }
  }
} satisfies JSONSchemaType<ChatBody>);

const completionBody = bodySchema<CompletionBody>({
  description: 'invalid completion request',
  type: 'object',
  required: ['prompt'],
  properties: {
    ...commonProperties,
    prompt: { anyOf: [{ type: 'string' }, { type: 'array', minItems: 1, maxItems: 1, items: { type: 'string' } }] }
  }
} satisfies JSONSchemaType<CompletionBody>);

const FINISH: Record<GenerateResult['stopReason'], string> = { stop: 'stop', eos: 'stop', length: 'length', abort: 'stop' };

function listModels(engine: Engine) {
  const loaded = engine.loaded;
  return {
    object: 'list',
    // `max_model_len` as vLLM names it: a remote agent keeps its conversation within it.
    data: loaded ? [{ id: loaded.name, object: 'model', created: 0, owned_by: 'datarus-lab', max_model_len: engine.contextSize }] : []
  };
}

function toMessages(messages: OpenAIMessage[]): ChatMessage[] {
  return messages.map(m => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content: typeof m.content === 'string' ? m.content : m.content.map(part => part.text).join('')
  }));
}

function common(body: CommonBody, engine: Engine, req: IncomingMessage): Omit<GenerateRequest, 'messages' | 'prompt'> {
  const loaded = engine.loaded;
  if (typeof body.model === 'string' && loaded && body.model !== loaded.name && body.model !== 'default') {
    throw new DomainError('model_not_found', `model "${body.model}" is not loaded; this host serves "${loaded.name}"`);
  }
  const episode = req.headers['x-datarus-episode'];
  return {
    episodeId: typeof episode === 'string' ? episode : undefined,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    seed: body.seed ?? undefined,
    stop: typeof body.stop === 'string' ? [body.stop] : (body.stop ?? undefined),
    grammar: body.grammar ?? undefined
  };
}

function usage(result: GenerateResult) {
  return {
    prompt_tokens: result.usage.promptTokens,
    completion_tokens: result.usage.completionTokens,
    total_tokens: result.usage.promptTokens + result.usage.completionTokens
  };
}

export function openaiRoutes(engine: Engine): Route[] {
  return [
    route('GET', /^\/v1\/models$/, null, async ({ res }) => sendJson(res, 200, listModels(engine))),
    route('POST', /^\/v1\/chat\/completions$/, chatBody, async ({ req, res, body }) => {
      const request = parseGenerateRequest(dropUndefined({ ...common(body, engine, req), messages: toMessages(body.messages) }));
      await respond(engine, res, request, body.stream === true, 'chat');
    }),
    route('POST', /^\/v1\/completions$/, completionBody, async ({ req, res, body }) => {
      const prompt = typeof body.prompt === 'string' ? body.prompt : body.prompt[0];
      const request = parseGenerateRequest(dropUndefined({ ...common(body, engine, req), prompt }));
      await respond(engine, res, request, body.stream === true, 'text');
    })
  ];
}

async function respond(engine: Engine, res: ServerResponse, request: GenerateRequest, stream: boolean, kind: 'chat' | 'text'): Promise<void> {
  const generator = engine.generator;
  const model = engine.loaded!.name;
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const object = kind === 'chat' ? 'chat.completion' : 'text_completion';
  if (!stream) {
    const result = await generator.generate(request, () => undefined, abortOnDisconnect(res));
    const choice =
      kind === 'chat'
        ? { index: 0, message: { role: 'assistant', content: result.text }, finish_reason: FINISH[result.stopReason], logprobs: null }
        : { index: 0, text: result.text, finish_reason: FINISH[result.stopReason], logprobs: null };
    sendJson(res, 200, { id, object, created, model, choices: [choice], usage: usage(result) });
    return;
  }
  const signal = abortOnDisconnect(res);
  let started = false;
  const chunkObject = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const chunk = (text: string | null, finish: string | null, first = false) =>
    kind === 'chat'
      ? {
          id,
          object: chunkObject,
          created,
          model,
          choices: [{ index: 0, delta: text === null ? {} : first ? { role: 'assistant', content: text } : { content: text }, finish_reason: finish, logprobs: null }]
        }
      : { id, object: chunkObject, created, model, choices: [{ index: 0, text: text ?? '', finish_reason: finish, logprobs: null }] };
  const result = await generator.generate(
    request,
    text => {
      if (!started) {
        startEventStream(res);
      }
      sendEvent(res, chunk(text, null, !started));
      started = true;
    },
    signal
  );
  if (!started) {
    startEventStream(res);
    if (kind === 'chat') {
      sendEvent(res, chunk('', null, true));
    }
  }
  sendEvent(res, { ...chunk(null, FINISH[result.stopReason]), usage: usage(result) });
  sendEvent(res, '[DONE]');
  res.end();
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
