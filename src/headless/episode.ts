/**
 * One headless episode: the agent loop with a model and a kernel, the turns'
 * token counts metered on the way (the loop records steps, not tokens), and
 * the figures a run reports about it.
 */
import { kernelPolicy } from '../agent/codePolicy';
import { AgentLoop, AgentRunOptions } from '../agent/loop';
import { ModelError } from '../agent/hostModel';
import type { ChatMessage } from '../agent/messages';
import type { AgentModel, CodeRunner, ModelTurn, ModelTurnRequest, PromptCount } from '../agent/types';
import type { Episode } from '../episode/types';
import { ApproveMode, DEFAULT_APPROVE_MODE, headlessApproval } from './approval';

export interface TurnFigures {
  step: number;
  completionTokens: number;
  tokensPerSecond: number | null;
}

/** Counts what each turn generated, and whether the model side failed (as opposed to the model's code). */
export class MeteredModel implements AgentModel {
  constructor(
    private readonly _inner: AgentModel,
    private readonly _onTurn: (figures: TurnFigures) => void = () => undefined
  ) {
    this.name = _inner.name;
    this.continuesTurns = _inner.continuesTurns;
  }

  readonly name: string;
  readonly continuesTurns?: boolean;
  completionTokens = 0;
  turns = 0;
  /** The model side's own failure (a server gone, a host that died), when the episode ended on one. */
  backendError: string | null = null;

  async complete(request: ModelTurnRequest, onText: (text: string) => void): Promise<ModelTurn> {
    const started = Date.now();
    let turn: ModelTurn;
    try {
      turn = await this._inner.complete(request, onText);
    } catch (err) {
      if (err instanceof ModelError) {
        this.backendError = err.message;
      }
      throw err;
    }
    this.turns++;
    // Servers that do not report usage: about a token per four characters.
    const tokens = turn.completionTokens ?? Math.ceil(turn.text.length / 4);
    this.completionTokens += tokens;
    const seconds = (Date.now() - started) / 1000;
    this._onTurn({ step: this.turns - 1, completionTokens: tokens, tokensPerSecond: turn.tokensPerSecond ?? (seconds > 0 ? tokens / seconds : null) });
    return turn;
  }

  async countTokens(episodeId: string, messages: ChatMessage[]): Promise<PromptCount | null> {
    return (await this._inner.countTokens?.(episodeId, messages)) ?? null;
  }

  endEpisode(episodeId: string): Promise<void> {
    return this._inner.endEpisode?.(episodeId) ?? Promise.resolve();
  }
}

export interface EpisodeFigures {
  steps: number;
  completionTokens: number;
  /** Failed steps (an error, a timeout, a malformed turn) that the episode got past: a later step ran, or it answered. */
  errorsRecovered: number;
  wallSeconds: number;
  /** The model side failed: the episode says nothing about the model. */
  backendError: string | null;
}

export function errorsRecovered(episode: Episode): number {
  const failed = (s: Episode['steps'][number]) => s.status === 'error' || s.status === 'timeout' || s.status === 'invalid';
  let recovered = 0;
  episode.steps.forEach((step, i) => {
    if (failed(step) && (episode.answer !== null || episode.steps.slice(i + 1).some(s => s.status === 'ok'))) {
      recovered++;
    }
  });
  return recovered;
}

export interface RunEpisodeOptions extends Omit<AgentRunOptions, 'now' | 'policy'> {
  onTurn?: (figures: TurnFigures) => void;
  /** Which steps need approval, which nobody gives headless (approval.ts); default `risky`. */
  approve?: ApproveMode;
}

export async function runEpisode(model: AgentModel, runner: CodeRunner, options: RunEpisodeOptions): Promise<{ episode: Episode; figures: EpisodeFigures }> {
  const started = Date.now();
  const metered = new MeteredModel(model, options.onTurn);
  const { onTurn: _onTurn, approve = DEFAULT_APPROVE_MODE, ...run } = options;
  // Every step is classified in the kernel before it runs, whatever the mode (the findings are recorded).
  const policy = kernelPolicy(runner.inspect ? expression => runner.inspect!(expression) : undefined);
  const episode = await new AgentLoop(metered, runner).run({ ...run, policy, hooks: { ...run.hooks, approve: headlessApproval(approve) } });
  return {
    episode,
    figures: {
      steps: episode.steps.length,
      completionTokens: metered.completionTokens,
      errorsRecovered: errorsRecovered(episode),
      wallSeconds: (Date.now() - started) / 1000,
      backendError: episode.status === 'failed' ? metered.backendError : null
    }
  };
}
