import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import { HostModel } from '../../src/agent/hostModel';
import { GENERATE_EVENT, GenerateEvent, GenerateResult } from '../../src/contract';
import { sendGenerateEvent, startEventStream } from '../../src/host/http/sse';

const result: GenerateResult = {
  episodeId: 'ep-1',
  text: 'Hello',
  stopReason: 'stop',
  stopString: '</step>',
  usage: { promptTokens: 7, evaluatedPromptTokens: 7, completionTokens: 2 },
  timings: { firstTokenMs: 5, totalMs: 200, tokensPerSecond: 10 },
  warmStart: null
};

/** A server that answers every request with these events, written by the host's own writer. */
async function serving(events: GenerateEvent[]): Promise<{ model: HostModel; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    startEventStream(res);
    for (const event of events) {
      sendGenerateEvent(res, event);
    }
    res.end();
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    model: new HostModel((path, init) => fetch(`${url}/${path}`, init)),
    close: () => new Promise(resolve => server.close(() => resolve()))
  };
}

const turn = { episodeId: 'ep-1', messages: [{ role: 'user' as const, content: 'hi' }], stop: ['</step>'] };

describe('generation events: the host writes them, the agent reads them (one contract)', () => {
  it('chunks stream to the agent as they come, and the done event is the turn', async () => {
    const { model, close } = await serving([
      { event: GENERATE_EVENT.chunk, data: { text: 'Hel' } },
      { event: GENERATE_EVENT.chunk, data: { text: 'lo' } },
      { event: GENERATE_EVENT.done, data: result }
    ]);
    try {
      const chunks: string[] = [];
      expect(await model.complete(turn, text => chunks.push(text))).toEqual({
        text: 'Hello',
        stopString: '</step>',
        stopReason: 'stop',
        completionTokens: 2,
        tokensPerSecond: 10
      });
      expect(chunks).toEqual(['Hel', 'lo']);
    } finally {
      await close();
    }
  });

  it('an error event after the first chunk fails the turn with the host’s message', async () => {
    const { model, close } = await serving([
      { event: GENERATE_EVENT.chunk, data: { text: 'Hel' } },
      { event: GENERATE_EVENT.error, data: { code: 'context_overflow', message: 'the prompt fills the context' } }
    ]);
    try {
      await expect(model.complete(turn, () => undefined)).rejects.toThrow('the model host failed mid-turn: the prompt fills the context');
    } finally {
      await close();
    }
  });
});
