/**
 * A model that writes the turns it is given, in order, each cut where the
 * earliest stop string the request names begins (as a real model stops); it
 * keeps a copy of every request it was sent and the episodes it was told ended.
 */
import type { AgentModel, ModelTurn, ModelTurnRequest } from '../../src/agent/types';

/**
 * One scripted turn: its text (bare or as `{ text }`); the text of a turn that
 * hit the token limit (`stopReason: 'length'`, never cut at a stop string); or
 * a function that answers the request itself.
 */
export type ScriptedTurn =
  | string
  | { text: string; stopReason?: ModelTurn['stopReason'] }
  | ((request: ModelTurnRequest, onText: (text: string) => void) => Promise<ModelTurn>);

export interface ScriptedModelOptions {
  /** Streams each turn in pieces of at most this many characters. Default: the whole turn at once. */
  chunkChars?: number;
}

export class ScriptedModel implements AgentModel {
  readonly name = 'scripted';
  readonly requests: ModelTurnRequest[] = [];
  readonly ended: string[] = [];

  constructor(
    private readonly _turns: ScriptedTurn[],
    private readonly _options: ScriptedModelOptions = {}
  ) {}

  async complete(request: ModelTurnRequest, onText: (text: string) => void): Promise<ModelTurn> {
    this.requests.push({ ...request, messages: request.messages.map(m => ({ ...m })) });
    const next = this._turns.shift();
    if (next === undefined) {
      throw new Error('script exhausted');
    }
    if (typeof next === 'function') {
      return next(request, onText);
    }
    if (typeof next !== 'string' && next.stopReason === 'length') {
      this._stream(next.text, onText);
      return { text: next.text, stopString: null, stopReason: 'length' };
    }
    const turn = typeof next === 'string' ? next : next.text;
    const stop = request.stop
      .map(s => ({ s, at: turn.indexOf(s) }))
      .filter(x => x.at >= 0)
      .sort((a, b) => a.at - b.at)[0];
    const text = stop ? turn.slice(0, stop.at) : turn;
    this._stream(text, onText);
    return { text, stopString: stop?.s ?? null, stopReason: stop ? 'stop' : 'eos' };
  }

  async endEpisode(id: string): Promise<void> {
    this.ended.push(id);
  }

  private _stream(text: string, onText: (text: string) => void): void {
    const size = this._options.chunkChars;
    if (!size) {
      onText(text);
      return;
    }
    for (let at = 0; at < text.length; at += size) {
      onText(text.slice(at, at + size));
    }
  }
}
