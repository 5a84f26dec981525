/**
 * The embedded model host as the agent's model: `POST <base>/generate`,
 * streamed as server-sent events, one episode id per agent episode so the host
 * keeps the episode's KV cache between steps.
 */
import { ChatMessage, CountTokensRequest, CountTokensResult, ErrorBody, ErrorCode, GENERATE_EVENT, GenerateRequest, GenerateResult, HostStatus } from '../contract';
import { errorMessage, readEvents } from './sse';
import type { AgentModel, ModelTurn, ModelTurnRequest, PromptCount } from './types';

/** Sends a request to the host API: `path` is relative to `/datarus/api` (or a standalone host's `/api`). */
export type HostRequest = (path: string, init: RequestInit) => Promise<Response>;

export class ModelError extends Error {
  constructor(
    message: string,
    readonly status?: number
  ) {
    super(message);
  }
}

/** How long a turn waits for the episode's previous turn to wind down: 50 × 200 ms. */
const BUSY_RETRIES = 50;
const BUSY_RETRY_MS = 200;

async function isEpisodeBusy(response: Response): Promise<boolean> {
  try {
    const code: ErrorCode = 'episode_busy';
    return ((await response.json()) as Partial<ErrorBody> | null)?.error?.code === code;
  } catch {
    return false;
  }
}

/** The host's generate request for one agent turn (through HTTP here, in-process for agent sessions). */
export function generateRequestOf(request: ModelTurnRequest): GenerateRequest {
  return {
    episodeId: request.episodeId,
    messages: request.messages,
    stop: request.stop,
    maxTokens: request.maxTokens,
    temperature: request.temperature,
    grammar: request.grammar
  };
}

export class HostModel implements AgentModel {
  constructor(
    private readonly _request: HostRequest,
    readonly name = 'embedded'
  ) {}

  /** The host renders a last assistant message as an open turn (chatPrompt.ts). */
  readonly continuesTurns = true;

  async complete(request: ModelTurnRequest, onText: (text: string) => void): Promise<ModelTurn> {
    let response: Response;
    try {
      response = await this._send(request);
    } catch (err) {
      if (request.signal?.aborted) {
        return { text: '', stopString: null, stopReason: 'abort' };
      }
      throw new ModelError(`the model host could not be reached: ${(err as Error).message}`);
    }
    if (!response.ok) {
      throw new ModelError(`the model host answered ${response.status}: ${await errorMessage(response)}`, response.status);
    }
    let done: GenerateResult | null = null;
    let failure: string | null = null;
    let text = '';
    try {
      await readEvents(response, event => {
        // The data of each event is as the contract's GenerateEvent gives it for that name.
        const data = JSON.parse(event.data);
        if (event.event === GENERATE_EVENT.chunk) {
          text += data.text;
          onText(data.text);
        } else if (event.event === GENERATE_EVENT.done) {
          done = data;
        } else if (event.event === GENERATE_EVENT.error) {
          failure = data.message;
        }
      });
    } catch (err) {
      if (!request.signal?.aborted) {
        throw new ModelError(`the model host stopped answering mid-turn: ${(err as Error).message}`);
      }
    }
    if (failure) {
      throw new ModelError(`the model host failed mid-turn: ${failure}`);
    }
    if (!done) {
      if (request.signal?.aborted) {
        return { text, stopString: null, stopReason: 'abort' };
      }
      throw new ModelError('the model host ended the stream without a result (did it restart?)');
    }
    const result: GenerateResult = done;
    return {
      text: result.text,
      stopString: result.stopString,
      stopReason: result.stopReason,
      completionTokens: result.usage?.completionTokens,
      tokensPerSecond: result.timings?.tokensPerSecond ?? null
    };
  }

  /**
   * Resolves once the host has a model ready. The host starts on the first
   * request and then loads its model (and measures its threads), answering
   * 503 to generation meanwhile: the first Analyze of a fresh server waits
   * here, told through `onWaiting`, instead of failing. Any other state, or no
   * answer, returns at once and lets generation report what is wrong.
   */
  async waitUntilReady(signal?: AbortSignal, onWaiting: (state: string) => void = () => undefined, pollMs = 1000): Promise<void> {
    while (!signal?.aborted) {
      let state: string | undefined;
      try {
        const response = await this._request('status', { signal });
        state = response.ok ? ((await response.json()) as Partial<Pick<HostStatus, 'state'>> | null)?.state : undefined;
      } catch {
        return;
      }
      if (state !== 'starting' && state !== 'loading') {
        return;
      }
      onWaiting(state);
      await new Promise(resolve => setTimeout(resolve, pollMs));
    }
  }

  /**
   * POSTs one turn. A 409 `episode_busy` means this episode's previous turn is still winding down on
   * the host (a turn the loop cut off, whose cancellation reaches the host a moment later): the loop
   * sends one turn at a time, so it waits for that and tries again, for a few seconds at most.
   */
  private async _send(request: ModelTurnRequest): Promise<Response> {
    const body = JSON.stringify(generateRequestOf(request));
    for (let attempt = 0; ; attempt++) {
      const response = await this._request('generate', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, signal: request.signal });
      if (response.status !== 409 || attempt >= BUSY_RETRIES || !(await isEpisodeBusy(response.clone()))) {
        return response;
      }
      await new Promise(resolve => setTimeout(resolve, BUSY_RETRY_MS));
      request.signal?.throwIfAborted();
    }
  }

  /** `POST tokens`: the host counts with the loaded model's tokenizer; null when it cannot answer. */
  async countTokens(episodeId: string, messages: ChatMessage[]): Promise<PromptCount | null> {
    const count: CountTokensRequest = { episodeId, messages };
    try {
      const response = await this._request('tokens', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(count) });
      if (!response.ok) {
        return null;
      }
      const result = (await response.json()) as CountTokensResult;
      return typeof result?.tokens === 'number' && typeof result.contextSize === 'number' ? result : null;
    } catch {
      return null;
    }
  }

  async endEpisode(episodeId: string): Promise<void> {
    await this._request(`episodes/${encodeURIComponent(episodeId)}`, { method: 'DELETE' }).catch(() => undefined);
  }
}
