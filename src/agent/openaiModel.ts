/**
 * A remote OpenAI-compatible server (vLLM, llama.cpp's server, …) as the
 * agent's model: `POST <baseUrl>/chat/completions` with `stream: true`. Such
 * servers drop the stop string from the text and do not say which one matched,
 * so it is inferred from the open tag. A grammar, when the loop has one, goes in
 * the `grammar` field that llama.cpp's server and `datarus serve` read (it is not
 * part of the OpenAI API; other servers ignore it), and the episode id in an
 * `X-Datarus-Episode` header, which lets `datarus serve` keep the episode's
 * KV cache between turns.
 */
import { ModelError } from './hostModel';
import { errorMessage, readEvents } from './sse';
import type { AgentModel, ModelTurn, ModelTurnRequest } from './types';

export interface OpenAIModelOptions {
  baseUrl: string;
  apiKey?: string;
  model: string;
  fetch?: typeof fetch;
}

export class OpenAIModel implements AgentModel {
  constructor(private readonly _options: OpenAIModelOptions) {
    this.name = _options.model;
  }

  readonly name: string;

  async complete(request: ModelTurnRequest, onText: (text: string) => void): Promise<ModelTurn> {
    const doFetch = this._options.fetch ?? fetch;
    const url = `${this._options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    let response: Response;
    try {
      response = await doFetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-Datarus-Episode': request.episodeId,
          ...(this._options.apiKey ? { Authorization: `Bearer ${this._options.apiKey}` } : {})
        },
        body: JSON.stringify({
          model: this._options.model,
          messages: request.messages,
          stop: request.stop.slice(0, 4),
          max_tokens: request.maxTokens,
          temperature: request.temperature,
          ...(request.grammar ? { grammar: request.grammar } : {}),
          stream: true,
          // The token count of the turn, in the last chunk (vLLM and llama.cpp send it when asked).
          stream_options: { include_usage: true }
        }),
        signal: request.signal
      });
    } catch (err) {
      if (request.signal?.aborted) {
        return { text: '', stopString: null, stopReason: 'abort' };
      }
      throw new ModelError(`${url} could not be reached: ${(err as Error).message}`);
    }
    if (!response.ok) {
      throw new ModelError(`${url} answered ${response.status}: ${await errorMessage(response)}`, response.status);
    }
    let text = '';
    let finish: string | null = null;
    let tokens = 0;
    try {
      await readEvents(response, event => {
        if (event.data === '[DONE]') {
          return;
        }
        const chunk = JSON.parse(event.data);
        const choice = chunk.choices?.[0];
        const delta = choice?.delta?.content ?? '';
        if (delta) {
          text += delta;
          onText(delta);
        }
        finish = choice?.finish_reason ?? finish;
        tokens = chunk.usage?.completion_tokens ?? tokens;
      });
    } catch (err) {
      if (!request.signal?.aborted) {
        throw new ModelError(`${url} stopped answering mid-turn: ${(err as Error).message}`);
      }
    }
    if (request.signal?.aborted) {
      return { text, stopString: null, stopReason: 'abort' };
    }
    const stopped = finish === 'stop';
    return {
      text,
      stopString: stopped ? inferStopString(text, request.stop) : null,
      stopReason: finish === 'length' ? 'length' : stopped ? 'stop' : 'eos',
      completionTokens: tokens || undefined,
      tokensPerSecond: null
    };
  }
}

/** Which stop string ended `text`: the closing tag of the last opened protocol block. */
export function inferStopString(text: string, stops: string[]): string | null {
  let best: { stop: string; at: number } | null = null;
  for (const stop of stops) {
    const open = /^<\/(\w+)>$/.exec(stop);
    if (!open) {
      continue;
    }
    const at = text.lastIndexOf(`<${open[1]}>`);
    if (at >= 0 && text.indexOf(stop, at) < 0 && (best === null || at > best.at)) {
      best = { stop, at };
    }
  }
  return best?.stop ?? null;
}
