/**
 * The host's loaded model as the agent's model, in the same process: what
 * `HostModel` does over HTTP, without the HTTP. Agent sessions (the
 * `%%datarus` magic) run the loop inside the host with it.
 */
import type { AgentModel, ModelTurn, ModelTurnRequest } from '../../agent/types';
import { generateRequestOf } from '../../agent/hostModel';
import type { Engine } from '../engine';

export class EngineModel implements AgentModel {
  constructor(
    private readonly _engine: Engine,
    readonly name: string
  ) {}

  /** The engine renders a last assistant message as an open turn (chatPrompt.ts). */
  readonly continuesTurns = true;

  async complete(request: ModelTurnRequest, onText: (text: string) => void): Promise<ModelTurn> {
    const result = await this._engine.generator.generate(generateRequestOf(request), onText, request.signal);
    return {
      text: result.text,
      stopString: result.stopString,
      stopReason: result.stopReason,
      completionTokens: result.usage.completionTokens,
      tokensPerSecond: result.timings.tokensPerSecond
    };
  }

  async endEpisode(episodeId: string): Promise<void> {
    try {
      await this._engine.generator.end(episodeId);
    } catch {
      // the model was unloaded meanwhile: nothing is kept for the episode
    }
  }
}
