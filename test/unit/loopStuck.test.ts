/**
 * The agent loop noticing it is stuck, with scripted models: the same code
 * again is not run, and the third time the loop asks for the answer from the
 * outputs already shown; a turn that keeps repeating itself is cut off
 * mid-stream through the request's signal.
 */
import { AgentLoop, AgentRunOptions } from '../../src/agent/loop';
import { AgentModel, CodeRunner, ExecutionResult, ModelTurn, ModelTurnRequest } from '../../src/agent/types';
import { SAME_CODE_OBSERVATION, SAME_FAILING_CODE_OBSERVATION } from '../../src/agent/stuck';
import { conversation, promptSha256 } from '../../src/episode/conversation';
import { ANSWER_REQUEST_WHY, answerTurnGrammar, formatAnswer, formatStep } from '../../src/protocol';
import { ScriptedModel } from '../helpers/scriptedModel';

/** Replies with the scripted turns in order, cutting each at its stop string like a real server. */

class Runner implements CodeRunner {
  readonly codes: string[] = [];
  async run(code: string): Promise<ExecutionResult> {
    this.codes.push(code);
    return { status: 'ok', outputs: [{ output_type: 'stream', name: 'stdout', text: 'East 25864.65\n' }], durationMs: 1 };
  }
}

/** Streams one line over and over, as a small model did for minutes, until the request's signal ends it. */
function repeatingTurn(line: string, seen: { chunks: number; abortedEarly: boolean }) {
  return async (request: ModelTurnRequest, onText: (t: string) => void): Promise<ModelTurn> => {
    let text = '<step>\n<thought>Sum the quantity.</thought>\n<action>python_executor</action>\n<action_input>\n';
    onText(text);
    for (let i = 0; i < 2048; i++) {
      if (request.signal?.aborted) {
        seen.abortedEarly = true;
        return { text, stopString: null, stopReason: 'abort' };
      }
      text += line;
      seen.chunks++;
      onText(line);
      await Promise.resolve();
    }
    return { text, stopString: null, stopReason: 'length' };
  };
}

const step = (code: string, thought = 'Group and sum.') => formatStep({ thought, code });
const answer = (text: string) => formatAnswer({ thought: 'The output shows it.', text });
const CODE = 'import pandas as pd\nprint(pd.read_csv("sales.csv").groupby("region")["revenue"].sum().idxmax())';

function run(model: AgentModel, runner: CodeRunner, extra: Partial<AgentRunOptions> = {}) {
  return new AgentLoop(model, runner).run({ episodeId: 'ep-stuck', question: 'Which region earned most?', ...extra });
}

describe('AgentLoop stuck detection', () => {
  it('does not run the previous step again, tells the model, and it answers', async () => {
    const model = new ScriptedModel([step(CODE), step(CODE + '\n'), answer('East, 25,864.65.')]);
    const runner = new Runner();
    const episode = await run(model, runner);
    expect(episode.status).toBe('answered');
    expect(runner.codes).toEqual([CODE]);
    expect(episode.steps.map(s => s.status)).toEqual(['ok', 'skipped']);
    expect(episode.steps[1].observation).toBe(SAME_CODE_OBSERVATION);
    // The model is told in place of output, and the conversation goes on as after any step.
    const told = model.requests[2].messages;
    expect(told[told.length - 2].content).toBe(`${step(CODE + '\n')}\n<observation>\n${SAME_CODE_OBSERVATION}\n</observation>`);
    expect(told[told.length - 1].content).toBe('Continue with the analysis.');
  });

  it('says so when the code repeated is the code that just raised an error', async () => {
    const model = new ScriptedModel([step(CODE), step(CODE), step('print(1)'), answer('done')]);
    const failing: CodeRunner = {
      run: async () => ({ status: 'error', outputs: [{ output_type: 'error', ename: 'ValueError', evalue: 'bad shape', traceback: ['ValueError: bad shape'] }], durationMs: 1 })
    };
    const episode = await run(model, failing, { profile: 'datarus-r1' });
    expect(episode.steps[1]).toMatchObject({ status: 'skipped', observation: SAME_FAILING_CODE_OBSERVATION });
    // Profiles that help a stuck model also ask for a different approach (test/unit/loopRecovery.test.ts).
    const generic = await run(new ScriptedModel([step(CODE), step(CODE), step('print(1)'), answer('done')]), failing);
    expect(generic.steps[1].observation.startsWith(`${SAME_FAILING_CODE_OBSERVATION}\n[`)).toBe(true);
  });

  it('asks for the answer the third time the same code comes, from the outputs already shown', async () => {
    const model = new ScriptedModel([step(CODE), step(CODE), step(CODE), answer('East, 25864.65.')]);
    const runner = new Runner();
    const episode = await run(model, runner);
    expect(episode.status).toBe('answered');
    expect(episode.answer?.text).toBe('East, 25864.65.');
    expect(runner.codes).toHaveLength(1);
    expect(model.requests).toHaveLength(4);
    expect(episode.answerRequest).toMatchObject({ afterSteps: 3, reason: 'repeating' });
    const last = model.requests[3];
    // One user turn (not two in a row), and the turn may only be an answer.
    expect(last.messages[last.messages.length - 2].role).toBe('assistant');
    expect(last.messages[last.messages.length - 1].content).toContain(ANSWER_REQUEST_WHY.repeating);
    expect(last.grammar).toBe(answerTurnGrammar(null));
    // The conversation rebuilt from the record is the one the answer was written for.
    expect(promptSha256(conversation(episode))).toBe(episode.answerPromptSha256);
  });

  it('ends the episode on the model side only after the asked answer turn has returned', async () => {
    // The host's DELETE of an episode aborts a generation still running for it: sent during the
    // answer turn, it cut that turn off and the episode read as stopped by the user.
    const events: string[] = [];
    const slowAnswer = async (): Promise<ModelTurn> => {
      events.push('answer turn started');
      await new Promise(resolve => setTimeout(resolve, 20));
      events.push('answer turn returned');
      const text = answer('East, 25864.65.');
      return { text, stopString: null, stopReason: 'eos' };
    };
    const model = Object.assign(new ScriptedModel([step(CODE), step(CODE), step(CODE), slowAnswer]), {
      endEpisode: async () => {
        events.push('episode ended');
      }
    });
    const episode = await run(model, new Runner());
    expect(episode.status).toBe('answered');
    expect(events).toEqual(['answer turn started', 'answer turn returned', 'episode ended']);
  });

  it('ends without an answer when the asked turn is not one, and under datarus-r1 asks nothing when no step printed anything', async () => {
    const model = new ScriptedModel([step(CODE), step(CODE), step(CODE), step(CODE)]);
    const episode = await run(model, new Runner());
    expect(episode.status).toBe('failed');
    expect(episode.reason).toBe('the model wrote the same code 3 times in a row instead of answering; asked for the answer, it wrote none');
    expect(episode.answerRequest?.raw).toContain('<step>');

    const silent: CodeRunner = { run: async () => ({ status: 'ok', outputs: [], durationMs: 1 }) };
    const quiet = new ScriptedModel([step(CODE), step(CODE), step(CODE), answer('never asked')]);
    const nothing = await run(quiet, silent, { profile: 'datarus-r1' });
    expect(nothing.status).toBe('failed');
    expect(nothing.reason).toBe('the model wrote the same code 3 times in a row instead of answering; no step printed anything to answer from');
    expect(quiet.requests).toHaveLength(3);
  });

  it('compares with the code that ran: a cell the user edited is not run again when the model copies it', async () => {
    const edited = 'print("fixed by the user")';
    const model = new ScriptedModel([step('print(bad'), step(edited), answer('done')]);
    const runner = new Runner();
    let asked = 0;
    const episode = await run(model, runner, { hooks: { approve: async () => (asked++ === 0 ? { action: 'run', code: edited } : { action: 'run' }) } });
    expect(episode.status).toBe('answered');
    expect(runner.codes).toEqual([edited]);
    expect(asked).toBe(1);
  });

  it('cuts off a turn that repeats one line, keeps one copy, and asks for a new step', async () => {
    const seen = { chunks: 0, abortedEarly: false };
    const model = new ScriptedModel([repeatingTurn('python code to calculate the total quantity\n', seen), step(CODE), answer('East.')]);
    const runner = new Runner();
    const streamed: string[] = [];
    const episode = await run(model, runner, { hooks: { onText: (_s, t) => streamed.push(t) } });
    expect(seen.abortedEarly).toBe(true);
    expect(seen.chunks).toBeLessThan(40);
    expect(episode.status).toBe('answered');
    expect(episode.steps[0]).toMatchObject({ status: 'invalid', observation: '[not run: it kept repeating the same text and was cut off]' });
    expect(episode.steps[0].raw.match(/python code to calculate/g)).toHaveLength(1);
    expect(runner.codes).toEqual([CODE]);
    const retry = model.requests[1].messages;
    expect(retry[retry.length - 2]).toEqual({ role: 'assistant', content: episode.steps[0].raw });
    expect(retry[retry.length - 1].content).toMatch(/kept repeating the same text/);
    // What the user saw stopped where the repetition was caught.
    expect(streamed.join('').length).toBeLessThan(2000);
  });

  it("still treats the user's Stop as a stop, not as repetition", async () => {
    const controller = new AbortController();
    const model = new ScriptedModel([
      async (request, onText) => {
        onText('<step>\n<thought>Load');
        controller.abort();
        expect(request.signal?.aborted).toBe(true);
        return { text: '<step>\n<thought>Load', stopString: null, stopReason: 'abort' };
      }
    ]);
    const episode = await run(model, new Runner(), { signal: controller.signal });
    expect(episode.status).toBe('stopped');
  });
});
