import { HostModel } from '../../src/agent/hostModel';

const status = (state: string) => new Response(JSON.stringify({ state }), { status: 200 });

describe('HostModel.waitUntilReady', () => {
  it('waits while the host loads its model, saying so, then returns once it is ready', async () => {
    const states = ['starting', 'loading', 'loading', 'ready'];
    const asked: string[] = [];
    const model = new HostModel(async path => {
      asked.push(path);
      return status(states.shift()!);
    });
    const waiting: string[] = [];
    await model.waitUntilReady(undefined, state => waiting.push(state), 1);
    expect(waiting).toEqual(['starting', 'loading', 'loading']);
    expect(asked).toEqual(['status', 'status', 'status', 'status']);
  });

  it('returns at once when the host is idle, failing, or unreachable: generation reports those', async () => {
    for (const answer of [() => status('idle'), () => status('error'), () => new Response('', { status: 502 })]) {
      const waiting: string[] = [];
      await new HostModel(async () => answer()).waitUntilReady(undefined, s => waiting.push(s), 1);
      expect(waiting).toEqual([]);
    }
    await expect(
      new HostModel(async () => {
        throw new TypeError('network down');
      }).waitUntilReady(undefined, undefined, 1)
    ).resolves.toBeUndefined();
  });

  it('ends when the episode is stopped', async () => {
    const abort = new AbortController();
    let polls = 0;
    const model = new HostModel(async () => {
      if (++polls === 3) {
        abort.abort();
      }
      return status('loading');
    });
    await model.waitUntilReady(abort.signal, undefined, 1);
    expect(polls).toBe(3);
  });
});
