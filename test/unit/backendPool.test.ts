/** Turns spread over several model servers: least busy first, an episode stays put, a server that is gone is skipped. */
import { ModelError } from '../../src/agent/hostModel';
import type { AgentModel, ModelTurn, ModelTurnRequest } from '../../src/agent/types';
import { BackendPool } from '../../src/headless/models';

const turn: ModelTurn = { text: 'ok', stopString: null, stopReason: 'eos', completionTokens: 1 };

/** A server whose answers the test releases by hand. */
class FakeServer implements AgentModel {
  constructor(readonly url: string) {}
  readonly name = 'm';
  requests: string[] = [];
  down = false;
  failMidTurn = false;
  pending: (() => void)[] = [];
  ended: string[] = [];

  async complete(request: ModelTurnRequest, onText: (t: string) => void): Promise<ModelTurn> {
    this.requests.push(request.episodeId);
    if (this.down) {
      throw new ModelError(`${this.url} could not be reached: connect ECONNREFUSED`);
    }
    if (this.failMidTurn) {
      onText('<step>');
      throw new ModelError(`${this.url} stopped answering mid-turn: terminated`);
    }
    await new Promise<void>(resolve => this.pending.push(resolve));
    return turn;
  }

  async endEpisode(id: string): Promise<void> {
    this.ended.push(id);
  }

  release(): void {
    this.pending.splice(0).forEach(r => r());
  }
}

const request = (episodeId: string): ModelTurnRequest => ({ episodeId, messages: [{ role: 'user', content: 'q' }], stop: [] });
const tick = () => new Promise(r => setImmediate(r));

describe('BackendPool', () => {
  it('sends new episodes to the least busy server and keeps an episode on its server', async () => {
    const [a, b, c] = [new FakeServer('a'), new FakeServer('b'), new FakeServer('c')];
    const log: string[] = [];
    const pool = new BackendPool([a, b, c].map(s => ({ url: s.url, model: s })), line => log.push(line));
    const turns = ['e1', 'e2', 'e3', 'e4'].map(id => pool.complete(request(id), () => undefined));
    await tick();
    expect([a.requests, b.requests, c.requests]).toEqual([['e1', 'e4'], ['e2'], ['e3']]);
    // b finishes its turn first: it is now the least busy, and a new episode goes there.
    b.release();
    await turns[1];
    const e5 = pool.complete(request('e5'), () => undefined);
    await tick();
    expect(b.requests).toEqual(['e2', 'e5']);
    // e1's next turn goes back to a, however busy a is.
    const e1 = pool.complete(request('e1'), () => undefined);
    await tick();
    expect(a.requests).toEqual(['e1', 'e4', 'e1']);
    [a, b, c].forEach(s => s.release());
    await Promise.all([...turns, e5, e1]);
    await pool.endEpisode('e1');
    expect(a.ended).toEqual(['e1']);
    expect(pool.turnsByServer).toEqual({ a: 3, b: 2, c: 1 });
    expect(log).toEqual([]);
  });

  it('skips a server that cannot be reached, says so once, and tries it again later', async () => {
    const [a, b] = [new FakeServer('a'), new FakeServer('b')];
    a.down = true;
    let now = 0;
    const log: string[] = [];
    const pool = new BackendPool([a, b].map(s => ({ url: s.url, model: s })), line => log.push(line), 30000, () => now);
    const first = pool.complete(request('e1'), () => undefined);
    await tick();
    b.release();
    await expect(first).resolves.toEqual(turn);
    expect(a.requests).toEqual(['e1']);
    expect(b.requests).toEqual(['e1']);
    const second = pool.complete(request('e2'), () => undefined);
    await tick();
    b.release();
    await second;
    expect(a.requests).toEqual(['e1']); // still resting
    expect(log).toEqual(['model server a is unreachable, skipping it: a could not be reached: connect ECONNREFUSED']);
    // Later it is back.
    now = 31000;
    a.down = false;
    const third = pool.complete(request('e3'), () => undefined);
    await tick();
    a.release();
    await third;
    expect(a.requests).toEqual(['e1', 'e3']);
    expect(log[1]).toBe('model server a answers again');
  });

  it('fails the turn when every server is gone, and when one goes away after it started answering', async () => {
    const [a, b] = [new FakeServer('a'), new FakeServer('b')];
    a.down = true;
    b.down = true;
    const pool = new BackendPool([a, b].map(s => ({ url: s.url, model: s })), () => undefined);
    await expect(pool.complete(request('e1'), () => undefined)).rejects.toThrow(/no model server could take the turn: a could not be reached.*; b could not be reached/);

    const [c, d] = [new FakeServer('c'), new FakeServer('d')];
    c.failMidTurn = true;
    const streamed: string[] = [];
    const pool2 = new BackendPool([c, d].map(s => ({ url: s.url, model: s })), () => undefined);
    // Its text already reached the loop: sending the turn elsewhere would stream a second beginning.
    await expect(pool2.complete(request('e1'), t => streamed.push(t))).rejects.toThrow('stopped answering mid-turn');
    expect(streamed).toEqual(['<step>']);
    expect(d.requests).toEqual([]);
  });

  it('passes on errors that are about the request, not the server', async () => {
    const a: AgentModel = { name: 'm', complete: async () => Promise.reject(new ModelError('400: prompt_too_long', 400)) };
    const b = new FakeServer('b');
    const pool = new BackendPool([{ url: 'a', model: a }, { url: 'b', model: b }], () => undefined);
    await expect(pool.complete(request('e1'), () => undefined)).rejects.toThrow('prompt_too_long');
    expect(b.requests).toEqual([]);
  });
});
