/**
 * The remote runner and agent sessions: the host's agent loop with a client
 * that runs the code itself (what `%%datarus` does in its kernel), here a
 * scripted client reading the session's events and answering its asks. The
 * real kernel and model are in test/python/test_magic_kernel.py.
 */
import { observationFor } from '../../src/agent/observation';
import { reflectionMessages } from '../../src/agent/reflection';
import { RemoteRunner, RunnerChannel } from '../../src/agent/remoteRunner';
import type { NbOutput, RunContext } from '../../src/agent/types';
import type { AgentSessionAnswer, AgentSessionAsk, AgentSessionEvent, GenerateRequest } from '../../src/contract';
import { AgentSession, AgentSessions, DEFAULT_SESSION_TIMINGS } from '../../src/host/sessions/agentSessions';
import type { Engine } from '../../src/host/engine';
import { formatAnswer, formatStep, getProfile } from '../../src/protocol';

const context = (signal = new AbortController().signal): RunContext => ({ episodeId: 'e', step: 0, signal, timeoutMs: 1000, metadata: {} });

class FixedChannel implements RunnerChannel {
  readonly asked: AgentSessionAsk[] = [];
  constructor(private readonly _answer: (ask: AgentSessionAsk) => Promise<AgentSessionAnswer>) {}
  ask(ask: AgentSessionAsk): Promise<AgentSessionAnswer> {
    this.asked.push(ask);
    return this._answer(ask);
  }
}

describe('RemoteRunner', () => {
  it('asks the client to run the code with the step and its time limit, and reads its outputs', async () => {
    const outputs: NbOutput[] = [{ output_type: 'stream', name: 'stdout', text: '3\n' }, { output_type: 'execute_result', data: { 'text/plain': '3' }, metadata: {} }];
    const channel = new FixedChannel(async () => ({ kind: 'run', status: 'ok', outputs: [...outputs, 'junk' as unknown as NbOutput], executionCount: 7, durationMs: 12 }));
    const result = await new RemoteRunner(channel).run('print(3)\n3', context());
    expect(channel.asked).toEqual([{ kind: 'run', code: 'print(3)\n3', step: 0, timeoutMs: 1000 }]);
    expect(result).toEqual({ status: 'ok', outputs, executionCount: 7, durationMs: 12 });
  });

  it('a client that is gone is a lost kernel (its variables went with it), not a model error', async () => {
    const result = await new RemoteRunner(new FixedChannel(() => Promise.reject(new Error('no answer within 61 s')))).run('x = 1', context());
    expect(result.status).toBe('error');
    expect(result.kernelLost).toBe(true);
    expect(result.outputs[0]).toMatchObject({ ename: 'KernelError', evalue: expect.stringContaining('no answer within 61 s') });
  });

  it('a stop while the client runs the code ends the step as aborted', async () => {
    const stop = new AbortController();
    const runner = new RemoteRunner(
      new FixedChannel(
        () =>
          new Promise((_, reject) => {
            stop.signal.addEventListener('abort', () => reject(new Error('stopped')));
          })
      )
    );
    const running = runner.run('while True: pass', context(stop.signal));
    stop.abort();
    expect((await running).status).toBe('aborted');
  });

  it('an answer that is not a run is refused, and an inspection that fails is no value', async () => {
    await expect(new RemoteRunner(new FixedChannel(async () => ({ kind: 'inspect', value: 'x' }))).run('1', context())).rejects.toThrow(/answered a run with/);
    expect(await new RemoteRunner(new FixedChannel(() => Promise.reject(new Error('gone')))).inspect('df.columns')).toBeNull();
    expect(await new RemoteRunner(new FixedChannel(async () => ({ kind: 'inspect', value: "['a']" }))).inspect('df.columns')).toBe("['a']");
  });
});

/** An engine whose model writes the scripted turns, cut at their stop strings like the host's generator. */
function scriptedEngine(turns: string[], requests: GenerateRequest[] = []): Engine {
  return {
    loaded: { name: 'scripted', path: '/models/scripted.gguf', promptProfile: 'generic' },
    generator: {
      generate: async (request: GenerateRequest, onText: (text: string) => void) => {
        requests.push(request);
        const turn = turns.shift() ?? formatAnswer({ thought: 'Out of script.', text: 'none' });
        const stop = (request.stop ?? []).find(s => turn.includes(s));
        const text = stop ? turn.slice(0, turn.indexOf(stop)) : turn;
        for (const piece of text.match(/[\s\S]{1,9}/g) ?? []) {
          onText(piece);
        }
        return {
          episodeId: request.episodeId,
          text,
          stopReason: stop ? 'stop' : 'eos',
          stopString: stop ?? null,
          usage: { promptTokens: 1, evaluatedPromptTokens: 1, completionTokens: 1 },
          timings: { firstTokenMs: 1, totalMs: 1, tokensPerSecond: null },
          warmStart: null
        };
      },
      end: async () => true
    }
  } as unknown as Engine;
}

/** The code policy's silent check (codePolicy.ts's expression runs its classifier). */
const isPolicyCheck = (expression: string) => expression.includes("ns['classify']");

/** A client like the magic: polls the events, answers each ask with `answer`, until the session is done. */
async function follow(sessions: AgentSessions, id: string, answer: (ask: AgentSessionEvent & { type: 'ask' }) => AgentSessionAnswer, from = 0): Promise<AgentSessionEvent[]> {
  const seen: AgentSessionEvent[] = [];
  let after = from;
  for (;;) {
    const { events, done } = await sessions.get(id).events(after, 1000);
    for (const event of events) {
      seen.push(event);
      after = event.seq;
      if (event.type === 'ask') {
        expect(sessions.get(id).answer(event.ask, answer(event))).toBe(true);
      }
    }
    if (done) {
      return seen;
    }
  }
}

describe('agent sessions', () => {
  const stepTurn = formatStep({ thought: 'Count the rows.', code: 'rows = 3\nprint(rows)' });
  const answerTurn = formatAnswer({ thought: 'It printed 3.', text: 'There are 3 rows.' });

  it('run the one agent loop with the client as the kernel: context, steps, observation and answer', async () => {
    const requests: GenerateRequest[] = [];
    const sessions = new AgentSessions(scriptedEngine([stepTurn, answerTurn], requests), null);
    const created = await sessions.start({ question: 'How many rows?', maxSteps: 4 });
    expect(created).toMatchObject({ model: 'scripted', profile: 'generic' });
    const printed: NbOutput[] = [{ output_type: 'stream', name: 'stdout', text: '3\n' }];
    const events = await follow(sessions, created.sessionId, ask => {
      if (ask.kind === 'inspect') {
        // The code policy's check finds nothing; the frames expression finds df.
        const value = isPolicyCheck(ask.expression) ? '[]' : ask.expression.includes('DataFrame') ? JSON.stringify([{ name: 'df', shape: [3, 1], dtypes: { a: 'int64' }, head: '   a\n0  1' }]) : null;
        return { kind: 'inspect', value };
      }
      return { kind: 'run', status: 'ok', outputs: printed, executionCount: 1, durationMs: 5 };
    });
    const types = events.map(e => e.type);
    expect(types[0]).toBe('ask'); // the context is gathered through the client's kernel first
    expect(types).toContain('context');
    expect(types.filter(t => t === 'step')).toHaveLength(1);
    expect(types[types.length - 1]).toBe('end');
    const context = events.find(e => e.type === 'context') as Extract<AgentSessionEvent, { type: 'context' }>;
    expect(context.text).toContain("- df: shape 3×1; columns 'a': int64");
    const run = events.find(e => e.type === 'ask' && e.kind === 'run') as Extract<AgentSessionEvent, { type: 'ask'; kind: 'run' }>;
    expect(run).toMatchObject({ code: 'rows = 3\nprint(rows)', step: 0, timeoutMs: 120000 });
    const step = (events.find(e => e.type === 'step') as Extract<AgentSessionEvent, { type: 'step' }>).step;
    // The observation is the host's, from the client's raw outputs, as for every runner.
    expect(step.observation).toBe(observationFor({ status: 'ok', outputs: printed, durationMs: 5 }, getProfile('generic').observationStyle, getProfile('generic').observationLimit));
    const end = events[events.length - 1] as Extract<AgentSessionEvent, { type: 'end' }>;
    expect(end).toMatchObject({ answer: 'There are 3 rows.', logged: false, caution: null, episode: { status: 'answered' } });
    // The model read the context and the observation in its second turn.
    expect(JSON.stringify(requests[0].messages)).toContain('DataFrames in the kernel');
    expect(JSON.stringify(requests[1].messages)).toContain('3');
    // Streamed text not yet read was merged: far fewer text events than chunks.
    expect(types.filter(t => t === 'text').length).toBeLessThan(stepTurn.length / 9);
  });

  it('classify each step in the client\'s kernel: under auto a flagged step is refused when the client cannot ask, asked about when it can', async () => {
    const network = JSON.stringify([{ category: 'network', reason: 'opens a network connection (urllib.request.urlopen)', line: 2 }]);
    const inspect = (expression: string): AgentSessionAnswer => ({ kind: 'inspect', value: isPolicyCheck(expression) ? network : null });
    const refusedSessions = new AgentSessions(scriptedEngine([stepTurn, answerTurn]), null);
    const refused = await refusedSessions.start({ question: 'How many rows?' });
    const events = await follow(refusedSessions, refused.sessionId, ask => (ask.kind === 'inspect' ? inspect(ask.expression) : { kind: 'run', status: 'ok', outputs: [], durationMs: 1 }));
    expect(events.some(e => e.type === 'ask' && (e.kind === 'run' || e.kind === 'approve'))).toBe(false);
    const step = (events.find(e => e.type === 'step') as Extract<AgentSessionEvent, { type: 'step' }>).step;
    expect(step).toMatchObject({ status: 'skipped', refused: true, risks: [{ category: 'network', line: 2 }] });
    expect(step.observation).toContain('the code policy refused this step because it opens a network connection (urllib.request.urlopen), line 2');

    const askingSessions = new AgentSessions(scriptedEngine([stepTurn, answerTurn]), null);
    const asking = await askingSessions.start({ question: 'How many rows?', canAsk: true });
    const asked = await follow(askingSessions, asking.sessionId, ask =>
      ask.kind === 'inspect' ? inspect(ask.expression) : ask.kind === 'approve' ? { kind: 'approve', action: 'run' } : { kind: 'run', status: 'ok', outputs: [], durationMs: 1 }
    );
    expect(asked.find(e => e.type === 'ask' && e.kind === 'approve')).toMatchObject({ step: 0, risk: 'opens a network connection (urllib.request.urlopen), line 2' });
    expect(asked.some(e => e.type === 'ask' && e.kind === 'run')).toBe(true);
  });

  it('ask approval before each step when asked to, and a skip is recorded as skipped', async () => {
    const sessions = new AgentSessions(scriptedEngine([stepTurn, answerTurn]), null);
    const { sessionId } = await sessions.start({ question: 'How many rows?', approval: 'ask' });
    const events = await follow(sessions, sessionId, ask => (ask.kind === 'approve' ? { kind: 'approve', action: 'skip' } : { kind: 'inspect', value: null }));
    const approve = events.find(e => e.type === 'ask' && e.kind === 'approve');
    expect(approve).toMatchObject({ step: 0, thought: 'Count the rows.', code: 'rows = 3\nprint(rows)' });
    expect(events.some(e => e.type === 'ask' && e.kind === 'run')).toBe(false);
    expect((events.find(e => e.type === 'step') as Extract<AgentSessionEvent, { type: 'step' }>).step.status).toBe('skipped');
  });

  it('stop at once when the client aborts mid-generation, and end as stopped', async () => {
    let release: () => void = () => undefined;
    const engine = {
      loaded: { name: 'slow', path: '/m.gguf', promptProfile: 'generic' },
      generator: {
        generate: (request: GenerateRequest, onText: (t: string) => void, signal: AbortSignal) =>
          new Promise(resolve => {
            onText('<step><thought>Thinking');
            release = () => resolve({ episodeId: request.episodeId, text: '<step><thought>Thinking', stopReason: 'abort', stopString: null, usage: { promptTokens: 1, evaluatedPromptTokens: 1, completionTokens: 1 }, timings: { firstTokenMs: 1, totalMs: 1, tokensPerSecond: null }, warmStart: null });
            signal.addEventListener('abort', () => release());
          }),
        end: async () => true
      }
    } as unknown as Engine;
    const sessions = new AgentSessions(engine, null);
    const { sessionId } = await sessions.start({ question: 'Anything?' });
    const session = sessions.get(sessionId);
    let after = 0;
    while (!(await session.events(0, 0)).events.some(e => e.type === 'text')) {
      const { events } = await session.events(after, 1000);
      for (const event of events) {
        after = event.seq;
        if (event.type === 'ask') {
          session.answer(event.ask, { kind: 'inspect', value: null });
        }
      }
    }
    session.abort.abort();
    const rest = await follow(sessions, sessionId, () => ({ kind: 'inspect', value: null }), after);
    expect(rest[rest.length - 1]).toMatchObject({ type: 'end', episode: { status: 'stopped' } });
  });

  it('refuse a model the host does not serve, and say how to get one when it has none', async () => {
    await expect(new AgentSessions(scriptedEngine([]), null).start({ question: 'q', model: 'other' })).rejects.toThrow(/serves scripted, not other/);
    const empty = { loaded: null } as unknown as Engine;
    await expect(new AgentSessions(empty, null).start({ question: 'q' })).rejects.toThrow(/no model loaded.*datarus pull/);
  });

  it('reflect on cells with the messages Reflect in JupyterLab sends', async () => {
    const requests: GenerateRequest[] = [];
    const sessions = new AgentSessions(scriptedEngine(['<think>It adds.</think>The total is 42.'], requests), null);
    const cells = [{ cellType: 'code' as const, source: 'total = 40 + 2\ntotal', outputs: [{ output_type: 'execute_result' as const, data: { 'text/plain': '42' }, metadata: {} }] }];
    expect(await sessions.reflect({ cells })).toEqual({ model: 'scripted', thinking: 'It adds.', answer: 'The total is 42.' });
    expect(requests[0].messages).toEqual(reflectionMessages(cells, 'generic'));
    expect(requests[0].messages![1].content).toContain('[code]\ntotal = 40 + 2\ntotal\n[output]\n42');
  });

  it('a client that stops polling while nothing is asked of it ends the session', async () => {
    const session = new AgentSession('s', { ...DEFAULT_SESSION_TIMINGS, clientGoneMs: 20 });
    await new Promise(resolve => setTimeout(resolve, 60));
    expect(session.abort.signal.aborted).toBe(true);
    session.end();
  });

  it('an answer of the wrong kind is refused; one nobody waits for is not accepted', async () => {
    const session = new AgentSession('s', DEFAULT_SESSION_TIMINGS);
    const asked = session.ask({ kind: 'inspect', expression: '1' });
    expect(() => session.answer(1, { kind: 'approve', action: 'run' })).toThrow(/is a "inspect"/);
    expect(session.answer(1, { kind: 'inspect', value: '1' })).toBe(true);
    expect(await asked).toEqual({ kind: 'inspect', value: '1' });
    expect(session.answer(1, { kind: 'inspect', value: '1' })).toBe(false);
    session.end();
  });
});
