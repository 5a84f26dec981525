/**
 * OpenAI-compatible endpoints over the host's generator, so the official
 * OpenAI clients and tools such as jupyter-ai can use the hosted model:
 * `/v1/models`, `/v1/chat/completions`, `/v1/completions`, streaming or not.
 * Only the fields below are read; unknown fields are ignored, as OpenAI-compatible
 * servers commonly do, and sampling fields are checked like the native API's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';

import type { ChatMessage, GenerateRequest, GenerateResult } from '../contract';
import { Engine } from './engine';
import { HttpError } from './httpError';
import { parseGenerateRequest } from './requests';
import { abortOnDisconnect, sendEvent, startEventStream } from './sse';

interface OpenAIBody {
  model?: unknown;
  messages?: unknown;
  prompt?: unknown;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
  temperature?: unknown;
  top_p?: unknown;
  seed?: unknown;
  stop?: unknown;
  stream?: unknown;
}

const FINISH: Record<GenerateResult['stopReason'], string> = { stop: 'stop', eos: 'stop', length: 'length', abort: 'stop' };

export function listModels(engine: Engine) {
  const loaded = engine.loaded;
  return {
    object: 'list',
    data: loaded ? [{ id: loaded.name, object: 'model', created: 0, owned_by: 'datarus-lab' }] : []
  };
}

function messageText(content: unknown): string {
  if (typeof content === 'string') {
    return content;
  }
  if (Array.isArray(content)) {
    return content
      .map(part => {
        if (part && typeof part === 'object' && (part as any).type === 'text' && typeof (part as any).text === 'string') {
          return (part as any).text as string;
        }
        throw new HttpError(400, 'invalid_request', 'only text content parts are supported');
      })
      .join('');
  }
  throw new HttpError(400, 'invalid_request', 'message content must be a string or a list of text parts');
}

function toMessages(raw: unknown): ChatMessage[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new HttpError(400, 'invalid_request', '"messages" must be a non-empty list');
  }
  return raw.map(m => {
    const role = (m as any)?.role;
    const mapped = role === 'developer' ? 'system' : role;
    if (mapped !== 'system' && mapped !== 'user' && mapped !== 'assistant') {
      throw new HttpError(400, 'invalid_request', `unsupported message role ${JSON.stringify(role)}`);
    }
    return { role: mapped, content: messageText((m as any).content) };
  });
}

function common(body: OpenAIBody, engine: Engine, req: IncomingMessage): Omit<GenerateRequest, 'messages' | 'prompt'> {
  const loaded = engine.loaded;
  if (typeof body.model === 'string' && loaded && body.model !== loaded.name && body.model !== 'default') {
    throw new HttpError(404, 'model_not_found', `model "${body.model}" is not loaded; this host serves "${loaded.name}"`);
  }
  const stop = body.stop === undefined || body.stop === null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop;
  const episode = req.headers['x-datarus-episode'];
  return {
    episodeId: typeof episode === 'string' ? episode : undefined,
    maxTokens: (body.max_completion_tokens ?? body.max_tokens ?? undefined) as number | undefined,
    temperature: (body.temperature ?? undefined) as number | undefined,
    topP: (body.top_p ?? undefined) as number | undefined,
    seed: (body.seed ?? undefined) as number | undefined,
    stop: stop as string[] | undefined
  };
}

function usage(result: GenerateResult) {
  return {
    prompt_tokens: result.usage.promptTokens,
    completion_tokens: result.usage.completionTokens,
    total_tokens: result.usage.promptTokens + result.usage.completionTokens
  };
}

export async function chatCompletions(engine: Engine, req: IncomingMessage, res: ServerResponse, raw: unknown): Promise<void> {
  const body = (raw ?? {}) as OpenAIBody;
  const request = parseGenerateRequest(dropUndefined({ ...common(body, engine, req), messages: toMessages(body.messages) }));
  await respond(engine, res, request, body.stream === true, 'chat');
}

export async function completions(engine: Engine, req: IncomingMessage, res: ServerResponse, raw: unknown): Promise<void> {
  const body = (raw ?? {}) as OpenAIBody;
  const prompt = Array.isArray(body.prompt) && body.prompt.length === 1 ? body.prompt[0] : body.prompt;
  if (typeof prompt !== 'string') {
    throw new HttpError(400, 'invalid_request', '"prompt" must be a string');
  }
  const request = parseGenerateRequest(dropUndefined({ ...common(body, engine, req), prompt }));
  await respond(engine, res, request, body.stream === true, 'text');
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
    const payload = JSON.stringify({ id, object, created, model, choices: [choice], usage: usage(result) });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
    res.end(payload);
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
