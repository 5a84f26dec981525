/**
 * The agent loop's logic with a scripted model and a scripted runner: the
 * conversation it builds, limits, error recovery, malformed output, approval
 * and stop. The real model and kernel are in test/integration/agent.test.ts.
 */
import { AgentLoop, AgentRunOptions, Approval } from '../../src/agent/loop';
import { ChatMessage } from '../../src/agent/messages';
import { AgentModel, CodeRunner, ExecutionResult, NbOutput } from '../../src/agent/types';
import { formatAnswer, formatStep, GENERIC_PROFILE } from '../../src/protocol';
import { ScriptedModel } from '../helpers/scriptedModel';

const CONTINUE_MESSAGE = GENERIC_PROFILE.afterStep;

/** Replies with the scripted turns in order, cutting each at its stop string like a real server. */

// Streamed in pieces, as a host streams tokens: the loop must parse a turn that arrives in parts.
const scripted = (turns: string[]) => new ScriptedModel(turns, { chunkChars: 7 });
const stdout = (text: string): NbOutput => ({ output_type: 'stream', name: 'stdout', text });
const error = (ename: string, evalue: string): NbOutput => ({
  output_type: 'error',
  ename,
  evalue,
  traceback: [`\u001b[0;31m${ename}\u001b[0m: ${evalue}`]
});

class ScriptedRunner implements CodeRunner {
  readonly codes: string[] = [];
  constructor(private readonly _results: (Partial<ExecutionResult> & { outputs: NbOutput[] })[]) {}
  async run(code: string): Promise<ExecutionResult> {
    this.codes.push(code);
    const next = this._results.shift() ?? { outputs: [] };
    const status = next.status ?? (next.outputs.some(o => o.output_type === 'error') ? 'error' : 'ok');
    return { durationMs: 1, ...next, status };
  }
}

const step = (code: string, thought = 'Do it.') => formatStep({ thought, code });
const answer = (text: string) => formatAnswer({ thought: 'Done.', text });

function run(model: AgentModel, runner: CodeRunner, extra: Partial<AgentRunOptions> = {}) {
  return new AgentLoop(model, runner).run({ episodeId: 'ep-1', question: 'What is the sum of x?', ...extra });
}

describe('AgentLoop', () => {
  it("runs a model-written `!pip install` as `%pip` (the kernel's interpreter), asks approval for that, and records both", async () => {
    const model = scripted([step('!pip install openpyxl\nprint(1)'), answer('It printed 1.')]);
    const runner = new ScriptedRunner([{ outputs: [stdout('1\n')] }]);
    const approved: string[] = [];
    const episode = await run(model, runner, {
      hooks: {
        approve: async (_i, parsed) => {
          approved.push(parsed.code);
          return { action: 'run' };
        }
      }
    });
    expect(approved).toEqual(['%pip install openpyxl\nprint(1)']);
    expect(runner.codes).toEqual(['%pip install openpyxl\nprint(1)']);
    expect(episode.steps[0]).toMatchObject({
      code: '%pip install openpyxl\nprint(1)',
      modelCode: '!pip install openpyxl\nprint(1)',
      rewrites: [{ from: '!pip install openpyxl', to: '%pip install openpyxl' }]
    });
    // The model reads back the code that ran.
    expect(model.requests[1].messages[2].content).toContain('%pip install openpyxl');
  });

  it('runs steps, feeds observations back, and ends with the answer', async () => {
    const model = scripted([step('print(6)'), answer('The sum is 6.')]);
    const runner = new ScriptedRunner([{ outputs: [stdout('6\n')] }]);
    const thoughts: string[] = [];
    const episode = await run(model, runner, { hooks: { onThought: (_s, t) => thoughts.push(t) } });
    expect(episode.status).toBe('answered');
    expect(episode.answer).toEqual({ thought: 'Done.', text: 'The sum is 6.' });
    expect(episode.steps).toHaveLength(1);
    expect(episode.steps[0]).toMatchObject({ status: 'ok', code: 'print(6)', observation: '6', thought: 'Do it.' });
    expect(thoughts).toEqual(['Do it.']);
    expect(runner.codes).toEqual(['print(6)']);
    // The second request: system, question, the step with its observation, then the continue message.
    const second = model.requests[1].messages;
    expect(second.map(m => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(second[2].content).toBe(`${step('print(6)')}\n<observation>\n6\n</observation>`);
    expect(second[3].content).toBe(CONTINUE_MESSAGE);
    expect(model.requests[0].stop).toEqual(['</step>', '</stop_analysis>']);
    expect(model.ended).toEqual(['ep-1']);
  });

  it('puts the notebook context before the question', async () => {
    const model = scripted([answer('ok')]);
    await run(model, new ScriptedRunner([]), { context: 'DataFrames: df (3×1)' });
    expect(model.requests[0].messages[1].content).toBe('DataFrames: df (3×1)\n\nQuestion: What is the sum of x?');
  });

  it('gives the model the error and an error hint, and recovers', async () => {
    const model = scripted([step('print(x)'), step('x = 1\nprint(x)'), answer('1')]);
    const runner = new ScriptedRunner([{ outputs: [error('NameError', "name 'x' is not defined")] }, { outputs: [stdout('1\n')] }]);
    const episode = await run(model, runner);
    expect(episode.status).toBe('answered');
    expect(episode.steps[0]).toMatchObject({ status: 'error', error: { ename: 'NameError' } });
    const messages = model.requests[1].messages;
    expect(messages[2].content).toContain("NameError: name 'x' is not defined");
    expect(messages[2].content).not.toContain('\u001b');
    expect(messages[3].content).toMatch(/raised NameError/);
  });

  it('keeps only the latest failed attempt in the history', async () => {
    const model = scripted([step('a()'), step('b()'), step('c()'), answer('ok')]);
    const runner = new ScriptedRunner([
      { outputs: [error('E1', 'a')] },
      { outputs: [error('E2', 'b')] },
      { outputs: [stdout('fine')] }
    ]);
    await run(model, runner);
    const third = model.requests[2].messages.map(m => m.content).join('\n');
    expect(third).toContain('E2');
    expect(third).not.toContain('E1');
    const fourth = model.requests[3].messages;
    expect(fourth).toHaveLength(6); // system, question, failed b + hint, c + continue
  });

  it('stops after too many consecutive errors', async () => {
    const model = scripted(Array.from({ length: 10 }, (_, i) => step(`fail${i}()`)));
    const runner = new ScriptedRunner(Array.from({ length: 10 }, () => ({ outputs: [error('ValueError', 'bad')] })));
    const episode = await run(model, runner, { limits: { maxConsecutiveErrors: 3 } });
    expect(episode.status).toBe('error_limit');
    expect(episode.steps).toHaveLength(3);
  });

  it('stops at the step limit', async () => {
    const model = scripted(Array.from({ length: 10 }, (_, i) => step(`print(${i})`)));
    const runner = new ScriptedRunner([]);
    const episode = await run(model, runner, { limits: { maxSteps: 4 } });
    expect(episode.status).toBe('step_limit');
    expect(runner.codes).toHaveLength(4);
  });

  it('answers malformed turns with a correction and never runs them', async () => {
    const model = scripted([
      'I think the answer is 6.',
      step('   '),
      '<step><thought>t</thought><action>web_search</action><action_input>q</action_input></step>',
      step('print(6)'),
      answer('6')
    ]);
    const runner = new ScriptedRunner([{ outputs: [stdout('6')] }]);
    const episode = await run(model, runner);
    expect(episode.status).toBe('answered');
    expect(runner.codes).toEqual(['print(6)']);
    expect(episode.steps.map(s => s.status)).toEqual(['invalid', 'invalid', 'invalid', 'ok']);
    const correction = model.requests[1].messages[3].content;
    expect(correction).toMatch(/did not follow the required format/);
  });

  it('never runs a step that was not closed, even when its code looks complete', async () => {
    const model = scripted(['<step><thought>t</thought><action>python_executor</action><action_input>print(2)</action_input>', answer('nothing ran')]);
    const runner = new ScriptedRunner([]);
    const episode = await run(model, runner);
    expect(runner.codes).toEqual([]);
    expect(episode.steps[0]).toMatchObject({ status: 'invalid', cutOff: true });
    expect(model.requests[1].messages[3].content).toBe(GENERIC_PROFILE.afterCutOff);
    expect(episode.status).toBe('answered');
  });

  it('stops when the model never stops', async () => {
    const model = scripted(Array.from({ length: 3 }, () => '<step><thought>' + 'x'.repeat(50)));
    const episode = await run(model, new ScriptedRunner([]), { limits: { maxConsecutiveErrors: 3 } });
    expect(episode.status).toBe('error_limit');
    expect(episode.steps.every(s => s.status === 'invalid')).toBe(true);
  });

  it('asks for approval; an edited cell runs and is what the model sees', async () => {
    const model = scripted([step('print(1)'), step('print(2)'), step('print(3)'), answer('done')]);
    const runner = new ScriptedRunner([{ outputs: [stdout('10')] }, { outputs: [stdout('3')] }]);
    const decisions: Approval[] = [{ action: 'run', code: 'print(10)' }, { action: 'skip' }, { action: 'run' }];
    const episode = await run(model, runner, { hooks: { approve: async () => decisions.shift()! } });
    expect(runner.codes).toEqual(['print(10)', 'print(3)']);
    expect(episode.steps[0]).toMatchObject({ code: 'print(10)', modelCode: 'print(1)', observation: '10' });
    expect(episode.steps[1].status).toBe('skipped');
    expect(model.requests[1].messages[2].content).toContain('print(10)');
    expect(model.requests[1].messages[2].content).not.toContain('print(1)\n');
  });

  it('stops when the user says stop at approval', async () => {
    const model = scripted([step('print(1)')]);
    const runner = new ScriptedRunner([]);
    const episode = await run(model, runner, { hooks: { approve: async () => ({ action: 'stop' }) } });
    expect(episode.status).toBe('stopped');
    expect(runner.codes).toEqual([]);
  });

  it('stops when the signal aborts during a step', async () => {
    const controller = new AbortController();
    const model = scripted([step('while True: pass'), answer('never')]);
    const runner: CodeRunner = {
      run: async () => {
        controller.abort();
        return { status: 'aborted', outputs: [error('KeyboardInterrupt', '')], durationMs: 5 };
      }
    };
    const episode = await run(model, runner, { signal: controller.signal });
    expect(episode.status).toBe('stopped');
    expect(episode.steps[0].status).toBe('aborted');
  });

  it('ends the episode when the kernel dies during a step', async () => {
    const model = scripted([step('import os; os._exit(1)'), step('print(1)'), answer('no')]);
    const runner = new ScriptedRunner([{ status: 'error', kernelLost: true, outputs: [error('KernelError', 'the kernel died')] }]);
    const episode = await run(model, runner);
    expect(episode.status).toBe('failed');
    expect(episode.reason).toMatch(/kernel died or restarted while step 1 ran/);
    expect(episode.steps).toHaveLength(1);
    expect(model.requests).toHaveLength(1);
  });

  it('reports a model failure as a failed episode, not a crash', async () => {
    const model: AgentModel = {
      name: 'broken',
      complete: async () => {
        throw new Error('the model host answered 503: no model is loaded');
      }
    };
    const episode = await run(model, new ScriptedRunner([]));
    expect(episode.status).toBe('failed');
    expect(episode.reason).toMatch(/no model is loaded/);
  });

  it('refuses an empty question without calling the model', async () => {
    const model = scripted([]);
    const episode = await run(model, new ScriptedRunner([]), { question: '   ' });
    expect(episode.status).toBe('failed');
    expect(model.requests).toHaveLength(0);
  });

  it('describes images and truncates long output in the observation', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000280000001e008060000', 'hex').toString('base64');
    const model = scripted([step('plot()'), answer('ok')]);
    const runner = new ScriptedRunner([
      {
        outputs: [
          { output_type: 'display_data', data: { 'image/png': png, 'text/plain': '<Figure>' } },
          stdout('y'.repeat(50000))
        ]
      }
    ]);
    const episode = await run(model, runner, { limits: { observationLimit: 1000 } });
    const observation = episode.steps[0].observation;
    expect(observation.startsWith('[image/png 640×480]')).toBe(true);
    expect(observation.length).toBeLessThanOrEqual(1000);
    expect(observation).toMatch(/\[\d+ characters truncated\]/);
  });

  it('says when a cell was interrupted at the time limit', async () => {
    const model = scripted([step('sleep()'), answer('ok')]);
    const runner = new ScriptedRunner([{ status: 'timeout', outputs: [error('KeyboardInterrupt', '')] }]);
    const episode = await run(model, runner, { limits: { cellTimeoutMs: 2000 } });
    expect(episode.steps[0].observation).toContain('[the cell ran past the 2 s limit and was interrupted]');
    const messages: ChatMessage[] = (model as ScriptedModel).requests[1].messages;
    expect(messages[3].content).toMatch(/raised KeyboardInterrupt/);
  });
});
