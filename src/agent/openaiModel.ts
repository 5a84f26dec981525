/**
 * A remote OpenAI-compatible server (vLLM, llama.cpp's server, …) as the
 * agent's model: `POST <baseUrl>/chat/completions` with `stream: true`. Such
 * servers drop the stop string from the text and do not say which one matched,
 * so it is inferred from the open tag. A grammar, when the loop has one, goes in
 * the `grammar` field that llama.cpp's server and `datarus serve` read (it is not
 * part of the OpenAI API; other servers ignore it), and the episode id in an
 * `X-Datarus-Episode` header, which lets `datarus serve` keep the episode's
 * KV cache between turns.
 *
 * Such servers count no tokens for us, so the budget (budget.ts) works from an
 * estimate: characters ÷ a conservative characters-per-token, against the
 * context the server states (`max_model_len` in `/models`, as vLLM and
 * `datarus serve` give it, or llama.cpp's `/props`). A server that states none
 * gets no budget; one that still refuses a prompt for its length gets it once
 * more with the observations cut (the loop does that).
 */
import { ModelError } from './hostModel';
import { errorMessage, readEvents } from './sse';
import type { ChatMessage } from './messages';
import type { AgentModel, ModelTurn, ModelTurnRequest, PromptCount } from './types';

/** Fewer characters per token than tokenizers give for tables and code (about 3–4): the estimate errs long. */
export const ESTIMATE_CHARS_PER_TOKEN = 2.5;
/** Tokens a chat template adds around each message, at most, for the estimate. */
const MESSAGE_OVERHEAD_TOKENS = 8;

/** A prompt's tokens as estimated from its characters (never below what a tokenizer gives, for ordinary text). */
export function estimateTokens(messages: ChatMessage[]): number {
  return messages.reduce((sum, m) => sum + Math.ceil(m.content.length / ESTIMATE_CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS, 0);
}

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
  private _contextSize: Promise<number | null> | null = null;

  /** The estimated count against the context the server states; null (no budget) when it states none. */
  async countTokens(_episodeId: string, messages: ChatMessage[]): Promise<PromptCount | null> {
    this._contextSize ??= this._statedContext();
    const contextSize = await this._contextSize;
    return contextSize === null ? null : { tokens: estimateTokens(messages), contextSize };
  }

  /** `max_model_len` of the model in `<base>/models`, else llama.cpp's `/props` (`n_ctx`), else null. */
  private async _statedContext(): Promise<number | null> {
    const base = this._options.baseUrl.replace(/\/+$/, '');
    const get = async (url: string): Promise<any> => {
      try {
        const response = await (this._options.fetch ?? fetch)(url, { headers: this._options.apiKey ? { Authorization: `Bearer ${this._options.apiKey}` } : {} });
        return response.ok ? await response.json() : null;
      } catch {
        return null;
      }
    };
    const positive = (n: unknown): number | null => (typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : null);
    const models = (await get(`${base}/models`))?.data;
    if (Array.isArray(models)) {
      const entry = models.find(m => m?.id === this._options.model) ?? (models.length === 1 ? models[0] : null);
      const stated = positive(entry?.max_model_len);
      if (stated) {
        return stated;
      }
    }
    // llama.cpp's server: /props at the root, beside /v1.
    const props = await get(`${base.replace(/\/v1$/, '')}/props`);
    return positive(props?.default_generation_settings?.n_ctx);
  }

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
