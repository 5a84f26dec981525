/**
 * A model that writes the turns it is given, in order, each cut at the first
 * stop string the request names; it keeps every request it was sent.
 */
import type { AgentModel, ModelTurn, ModelTurnRequest } from '../../src/agent/types';

export class ScriptedModel implements AgentModel {
  readonly name = 'scripted';
  readonly requests: ModelTurnRequest[] = [];
  constructor(private readonly _turns: string[]) {}

  async complete(request: ModelTurnRequest, onText: (text: string) => void): Promise<ModelTurn> {
    this.requests.push({ ...request, messages: request.messages.map(m => ({ ...m })) });
    const turn = this._turns.shift();
    if (turn === undefined) {
      throw new Error('script exhausted');
    }
    const stop = request.stop.find(s => turn.includes(s));
    const text = stop ? turn.slice(0, turn.indexOf(stop)) : turn;
    onText(text);
    return { text, stopString: stop ?? null, stopReason: stop ? 'stop' : 'eos' };
  }
}
