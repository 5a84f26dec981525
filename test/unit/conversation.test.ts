/**
 * The one conversation: with a scripted model, every message list the loop
 * sent is `conversation(episode, k)` and hashes to the step's recorded
 * `promptSha256`, for every profile and every kind of turn (ok, error,
 * malformed, cut off, skipped, edited, answer); exports reuse it; the
 * datarus-r1 profile writes exactly the reference harness's messages; cut-off
 * code never runs.
 */
import { AgentLoop, AgentRunOptions, Approval } from '../../src/agent/loop';
import { AgentModel, CodeRunner, ExecutionResult, NbOutput } from '../../src/agent/types';
import { conversation, promptSha256 } from '../../src/episode/conversation';
import { exportRows } from '../../src/episode/export';
import { Episode, StoredEpisode } from '../../src/episode/types';
import { DATARUS_R1_PROFILE, formatAnswer, formatStep, GENERIC_PROFILE, getProfile, profileNames } from '../../src/protocol';
import { ScriptedModel, ScriptedTurn } from '../helpers/scriptedModel';


/** Replies with scripted turns, cutting each at its first stop string like a real server. */

/** Runs nothing for real: records the code and answers with scripted outputs. */
class ScriptedRunner implements CodeRunner {
  readonly codes: string[] = [];
  constructor(private readonly _results: NbOutput[][]) {}
  async run(code: string): Promise<ExecutionResult> {
    this.codes.push(code);
    const outputs = this._results.shift() ?? [];
    return { status: outputs.some(o => o.output_type === 'error') ? 'error' : 'ok', outputs, durationMs: 1 };
  }
}

const stdout = (text: string): NbOutput => ({ output_type: 'stream', name: 'stdout', text });
const error = (ename: string, evalue: string): NbOutput => ({
  output_type: 'error',
  ename,
  evalue,
  traceback: ['\u001b[0;31m---------------------------------------------------------------------------\u001b[0m', `\u001b[0;31m${ename}\u001b[0m: ${evalue}`]
});
const step = (code: string, thought = 'Look at the data.') => ({ text: formatStep({ thought, code }) });

/** Every kind of turn: malformed, ok, error, cut off, skipped, edited, then the answer. */
const SCRIPT = (): ScriptedTurn[] => [
  { text: 'I will load the data first.' },
  step('print(df.shape)'),
  step('print(df.prize.mean())'),
  { text: '<step>\n<thought>Save.</thought>\n<action>python_executor</action>\n<action_input>\nf = open("results.csv", "w")\n', stopReason: 'length' },
  step('df.to_csv("all.csv")', 'Save everything.'),
  step('print(df.price.mean())', 'Mean price.'),
  { text: formatAnswer({ thought: 'It printed 12.5.', text: 'The mean price is 12.5.' }) }
];
const OUTPUTS = (): NbOutput[][] => [[stdout('(4, 2)\n')], [error('AttributeError', "'DataFrame' object has no attribute 'prize'")], [stdout('12.5\n')]];
const DECISIONS = (): Approval[] => [{ action: 'run' }, { action: 'run' }, { action: 'skip' }, { action: 'run', code: 'print(round(df.price.mean(), 1))' }];

async function runScripted(profile: string, extra: Partial<AgentRunOptions> = {}) {
  const model = new ScriptedModel(SCRIPT());
  const runner = new ScriptedRunner(OUTPUTS());
  const decisions = DECISIONS();
  const episode = await new AgentLoop(model, runner).run({
    episodeId: `ep-${profile}`,
    question: 'What is the mean price?',
    context: 'DataFrames in the kernel:\n- df: shape 4×2',
    profile,
    hooks: { approve: async () => decisions.shift()! },
    ...extra
  });
  return { episode, model, runner };
}

describe('one conversation for the loop and the exports', () => {
  it.each(profileNames())('profile %s: every prompt the loop sent is conversation(episode, k), and its hash is recorded', async name => {
    const { episode, model, runner } = await runScripted(name);
    expect(episode.status).toBe('answered');
    expect(episode.promptProfile).toBe(name);
    expect(episode.steps.map(s => s.status)).toEqual(['invalid', 'ok', 'error', 'invalid', 'skipped', 'ok']);
    expect(runner.codes).toEqual(['print(df.shape)', 'print(df.prize.mean())', 'print(round(df.price.mean(), 1))']);
    expect(model.requests).toHaveLength(7);
    model.requests.forEach((request, k) => {
      expect(request.stop).toEqual(getProfile(name).stop);
      const recorded = k < episode.steps.length ? episode.steps[k].promptSha256 : episode.answerPromptSha256;
      expect(promptSha256(request.messages)).toBe(recorded);
      expect(conversation(episode, k)).toEqual(request.messages);
    });
    // The episode survives a trip through JSON (the log) with the same prompts.
    const logged: Episode = JSON.parse(JSON.stringify(episode));
    expect(promptSha256(conversation(logged))).toBe(episode.answerPromptSha256);
  });

  it.each(profileNames())('profile %s: every GRPO, DPO and KTO prompt is byte for byte what the model was sent', async name => {
    const { episode } = await runScripted(name);
    const stored: StoredEpisode = {
      episode,
      feedback: [
        { step: null, rating: 'up', at: 't' },
        { step: 1, rating: 'up', at: 't' },
        { step: 2, rating: 'down', at: 't' },
        { step: 4, rating: 'down', at: 't' }
      ],
      edits: [{ step: 1, original: 'print(df.shape)', edited: 'print(df.shape, df.dtypes)', at: 't' }]
    };
    const hashOf = (step: number) => (step === -1 ? episode.answerPromptSha256 : episode.steps[step].promptSha256);
    const grpo = exportRows([stored], 'grpo') as any[];
    expect(grpo).toHaveLength(1);
    expect(promptSha256(grpo[0].prompt)).toBe(episode.steps[0].promptSha256);
    const dpo = exportRows([stored], 'dpo') as any[];
    expect(dpo.map(r => r.step).sort()).toEqual([1, 5]);
    const kto = exportRows([stored], 'kto') as any[];
    expect(kto.map(r => r.step)).toEqual([-1, 1, 2, 4]);
    for (const row of [...dpo, ...kto]) {
      expect({ step: row.step, hash: promptSha256(row.prompt) }).toEqual({ step: row.step, hash: hashOf(row.step) });
    }
    for (const row of [...grpo, ...dpo, ...kto]) {
      expect(row.prompt_profile).toBe(name);
    }
    // SFT is the final conversation and the answer.
    const [sft] = exportRows([stored], 'sft') as any[];
    expect(sft.messages.slice(0, -1)).toEqual(conversation(episode));
    expect(sft.messages[sft.messages.length - 1]).toEqual({ role: 'assistant', content: formatAnswer(episode.answer!) });
  });

  it('the datarus-r1 profile sends the reference harness messages', async () => {
    const { model, episode } = await runScripted('datarus-r1');
    const last = model.requests[6].messages;
    expect(last[0]).toEqual({ role: 'system', content: DATARUS_R1_PROFILE.systemPrompt });
    expect(last[1]).toEqual({ role: 'user', content: 'DataFrames in the kernel:\n- df: shape 4×2\n\nWhat is the mean price?' });
    // A malformed turn: kept as written, then the harness's format reminder.
    expect(last[2]).toEqual({ role: 'assistant', content: 'I will load the data first.' });
    expect(last[3].content).toBe('Please continue the analysis using the XML format with <step> tags. Remember to start with <step> directly, not <think>.');
    // An executed step: the observation inside the step, code without the newlines around it.
    expect(last[4].content).toBe(
      '<step>\n<thought>Look at the data.</thought>\n<action>python_executor</action>\n<action_input>print(df.shape)</action_input>\n<observation>(4, 2)\n</observation>\n</step>'
    );
    expect(last[5].content).toBe('Continue with the analysis.');
    // An error: "Error: NAME: VALUE", the traceback without colour codes, and the harness's error message.
    expect(last[6].content).toContain("<observation>Error: AttributeError: 'DataFrame' object has no attribute 'prize'\n-----");
    expect(last[6].content).not.toContain('\u001b');
    expect(last[7].content).toBe('The code resulted in an error. Please analyze the error and try a different approach.');
    // The cut-off turn is kept as written and the model is told; failed attempts all stay (as in the harness).
    expect(last[8].content).toBe(episode.steps[3].raw);
    expect(last[9].content).toBe(DATARUS_R1_PROFILE.afterCutOff);
    expect(last[10].content).toContain('<observation>The user chose not to run this code.</observation>');
    expect(last[12].content).toContain('<action_input>print(round(df.price.mean(), 1))</action_input>');
    expect(last).toHaveLength(14);
    expect(model.requests[0].stop).toEqual(['</step>', '</stop_analysis>', '<｜end▁of▁sentence｜>']);
  });

  it('the generic profile keeps only the latest of a run of failures and the text the model wrote', async () => {
    const { model } = await runScripted('generic');
    const last = model.requests[6].messages.map(m => m.content);
    // Error at step 2 is followed by the cut-off step 3: only the cut-off one stays.
    expect(last.join('\n')).not.toContain('prize');
    expect(last).toContain(GENERIC_PROFILE.afterCutOff);
    expect(last[1]).toBe('DataFrames in the kernel:\n- df: shape 4×2\n\nQuestion: What is the mean price?');
    expect(last[4]).toBe(`${formatStep({ thought: 'Look at the data.', code: 'print(df.shape)' })}\n<observation>\n(4, 2)\n</observation>`);
  });

  it('never runs code cut off at the token limit: the file is not opened, the step is invalid, the model is told', async () => {
    const model = new ScriptedModel([
      { text: '<step>\n<thought>Write the results.</thought>\n<action>python_executor</action>\n<action_input>\nf = open("results.csv","w")\n', stopReason: 'length' },
      { text: formatAnswer({ thought: 'Stop.', text: 'Nothing written.' }) }
    ]);
    const runner = new ScriptedRunner([]);
    const episode = await new AgentLoop(model, runner).run({ episodeId: 'cut', question: 'Save the results.' });
    expect(runner.codes).toEqual([]);
    expect(episode.steps[0]).toMatchObject({ status: 'invalid', cutOff: true, code: 'f = open("results.csv","w")' });
    expect(episode.steps[0].problems).toContain('the turn hit the token limit');
    expect(model.requests[1].messages[3].content).toBe(GENERIC_PROFILE.afterCutOff);
  });

  it('never runs a step the model left open without hitting the limit', async () => {
    const model = new ScriptedModel([
      { text: '<step>\n<thought>t</thought>\n<action>python_executor</action>\n<action_input>\nimport os; os.remove("data.csv")', stopReason: 'eos' },
      { text: formatAnswer({ thought: 'Stop.', text: 'ok' }) }
    ]);
    const runner = new ScriptedRunner([]);
    const episode = await new AgentLoop(model, runner).run({ episodeId: 'open', question: 'Clean up.', profile: 'datarus-r1' });
    expect(runner.codes).toEqual([]);
    expect(episode.steps[0]).toMatchObject({ status: 'invalid', cutOff: true });
  });

  it('runs only the first step of a reply that holds several (a server that ignores stop strings)', async () => {
    const two = formatStep({ thought: 'one', code: 'print(1)' }) + '\n' + formatStep({ thought: 'two', code: 'print(2)' });
    const model: AgentModel = {
      name: 'no-stop',
      complete: async () => (model as any).n++ === 0 ? { text: two, stopString: null, stopReason: 'eos' } : { text: formatAnswer({ thought: 't', text: 'a' }), stopString: null, stopReason: 'eos' }
    };
    (model as any).n = 0;
    const runner = new ScriptedRunner([[stdout('1\n')]]);
    await new AgentLoop(model, runner).run({ episodeId: 'two', question: 'q', profile: 'datarus-r1' });
    expect(runner.codes).toEqual(['print(1)']);
  });

  it('refuses an unknown profile with the list of known ones, without calling the model', async () => {
    const { episode, model } = await runScripted('no-such-profile');
    expect(episode.status).toBe('failed');
    expect(model.requests).toHaveLength(0);
    expect(episode.reason).toMatch(/unknown prompt profile "no-such-profile" \(known: generic, datarus-r1, compact\)/);
  });
});

describe('an answer whose values no output showed', () => {
  const GUESS_TEXT = formatAnswer({ thought: 'Probably.', text: 'The mean price is 99.9.' });
  const GUESS = { text: GUESS_TEXT };
  const RIGHT = { text: formatAnswer({ thought: 'It printed 12.5.', text: 'The mean price is 12.5.' }) };

  async function run(profile: string, turns: ScriptedTurn[], outputs: NbOutput[][]) {
    const model = new ScriptedModel(turns);
    const runner = new ScriptedRunner(outputs);
    const episode = await new AgentLoop(model, runner).run({ episodeId: `g-${profile}`, question: 'What is the mean price?', profile });
    return { episode, model, runner };
  }

  it.each(['generic', 'compact'])('profile %s: is sent back once with feedback that is part of the record, and every prompt hash matches', async name => {
    const { episode, model } = await run(name, [step('print(df.shape)'), GUESS, step('print(df.price.mean())'), RIGHT], [[stdout('(4, 2)\n')], [stdout('12.5\n')]]);
    expect(episode.status).toBe('answered');
    expect(episode.answer?.text).toBe('The mean price is 12.5.');
    expect(episode.answerGrounding).toEqual({ grounded: true, unsupported: [] });
    expect(episode.rejectedAnswers).toHaveLength(1);
    const [rejected] = episode.rejectedAnswers!;
    expect(rejected).toMatchObject({ afterSteps: 1, unsupported: ['99.9'], answer: { text: 'The mean price is 99.9.' } });
    expect(rejected.feedback).toBe(getProfile(name).groundingFeedback!(['99.9']));
    expect(episode.steps.map(s => s.index)).toEqual([0, 1]);
    // The turn after the feedback reads the rejected answer and the feedback, in order.
    const afterFeedback = model.requests[2].messages;
    expect(afterFeedback.slice(-2)).toEqual([
      { role: 'assistant', content: GUESS_TEXT },
      { role: 'user', content: rejected.feedback }
    ]);
    const recorded = [episode.steps[0].promptSha256, rejected.promptSha256, episode.steps[1].promptSha256, episode.answerPromptSha256];
    expect(model.requests.map(r => promptSha256(r.messages))).toEqual(recorded);
    expect(conversation(episode, 0)).toEqual(model.requests[0].messages);
    expect(conversation(episode, 1)).toEqual(model.requests[2].messages);
    expect(conversation(episode)).toEqual(model.requests[3].messages);
    // Through the log (JSON) and the exports: the same prompts.
    const logged: Episode = JSON.parse(JSON.stringify(episode));
    expect(promptSha256(conversation(logged))).toBe(episode.answerPromptSha256);
    const stored: StoredEpisode = { episode: logged, feedback: [{ step: null, rating: 'up', at: 't' }], edits: [] };
    const [kto] = exportRows([stored], 'kto') as any[];
    expect(promptSha256(kto.prompt)).toBe(episode.answerPromptSha256);
    const [grpo] = exportRows([stored], 'grpo') as any[];
    expect(promptSha256(grpo.prompt)).toBe(episode.steps[0].promptSha256);
    expect(grpo.answer_grounded).toBe(true);
  });

  it('a second ungrounded answer is accepted and recorded as not grounded, also in the exports', async () => {
    const { episode, model } = await run('generic', [step('print(df.shape)'), GUESS, step('print(df.price.mean())'), GUESS], [[stdout('(4, 2)\n')], [stdout('12.5\n')]]);
    expect(episode.status).toBe('answered');
    expect(episode.answer?.text).toBe('The mean price is 99.9.');
    expect(episode.answerGrounding).toEqual({ grounded: false, unsupported: ['99.9'] });
    expect(episode.rejectedAnswers).toHaveLength(1);
    expect(model.requests).toHaveLength(4);
    const [row] = exportRows([{ episode, feedback: [], edits: [] }], 'sft') as any[];
    expect(row.answer_grounded).toBe(false);
    expect(row.messages.slice(0, -1)).toEqual(conversation(episode));
  });

  it('an answer sent back right away (no step yet) comes before any step, and a rejected turn uses no step', async () => {
    const { episode, model } = await run('generic', [GUESS, step('print(df.price.mean())'), RIGHT], [[stdout('12.5\n')]]);
    expect(episode.rejectedAnswers?.[0].afterSteps).toBe(0);
    expect(episode.steps).toHaveLength(1);
    expect(conversation(episode, 0)).toEqual(model.requests[1].messages);
    expect(promptSha256(model.requests[1].messages)).toBe(episode.steps[0].promptSha256);
    expect(episode.answerGrounding?.grounded).toBe(true);
  });

  it('datarus-r1 keeps its harness conversation: the answer is accepted at once and only recorded as not grounded', async () => {
    const { episode, model } = await run('datarus-r1', [step('print(df.shape)'), GUESS], [[stdout('(4, 2)\n')]]);
    expect(episode.status).toBe('answered');
    expect(episode.rejectedAnswers).toBeUndefined();
    expect(episode.answerGrounding).toEqual({ grounded: false, unsupported: ['99.9'] });
    expect(model.requests).toHaveLength(2);
  });
});

describe('a repeat of code that just raised', () => {
  // The newcomer replay's first try: the step raised, the model sent the same code twice more; each repeat was
  // not run, and the turn after it said "That is the output of your code", after which the model made an answer up.
  const FAILING = "total = df.groupby('city')['qty', 'price'].sum()\nprint(total)";
  const run = async (profile: string) => {
    const model = new ScriptedModel([
      step(FAILING),
      step(`${FAILING}\n`), // the same code as a reader sees it (a trailing newline does not count)
      step("df['total'] = df['qty'] * df['price']\nprint(df.groupby('city')['total'].sum().idxmax())"),
      { text: formatAnswer({ thought: 'It printed Ghent.', text: 'Ghent.' }) }
    ]);
    const runner = new ScriptedRunner([[error('ValueError', 'Cannot subset columns with a tuple with more than one element.')], [stdout('Ghent\n')]]);
    const episode = await new AgentLoop(model, runner).run({ episodeId: `repeat-${profile}`, question: 'Which city has the highest total of qty * price?', profile });
    return { episode, model, runner };
  };

  it.each(profileNames())('profile %s: the turn after the repeat that was not run repeats the error follow-up, and the prompts still rebuild', async name => {
    const { episode, model, runner } = await run(name);
    expect(episode.steps.map(s => s.status)).toEqual(['error', 'skipped', 'ok']);
    expect(runner.codes).toHaveLength(2);
    const profile = getProfile(name);
    const afterRepeat = model.requests[2].messages[model.requests[2].messages.length - 1];
    expect(afterRepeat.content).toBe(profile.afterError('ValueError'));
    expect(afterRepeat.content).not.toBe(profile.afterStep);
    model.requests.forEach((request, k) => expect(conversation(episode, k)).toEqual(request.messages));
  });

  it('a step the user skipped after an error, with other code, still gets the after-step turn', async () => {
    const model = new ScriptedModel([step(FAILING), step('print(df.columns)'), { text: formatAnswer({ thought: 'Done.', text: 'No answer.' }) }]);
    const runner = new ScriptedRunner([[error('ValueError', 'bad')]]);
    const decisions: Approval[] = [{ action: 'run' }, { action: 'skip' }];
    const episode = await new AgentLoop(model, runner).run({
      episodeId: 'user-skip',
      question: 'Which city?',
      profile: 'compact',
      hooks: { approve: async () => decisions.shift()! }
    });
    expect(episode.steps.map(s => s.status)).toEqual(['error', 'skipped']);
    const last = model.requests[2].messages[model.requests[2].messages.length - 1];
    expect(last.content).toBe(getProfile('compact').afterStep);
  });

  it('the compact profile says where the error is and that the same code is not to be sent again', () => {
    const text = getProfile('compact').afterError('ValueError');
    expect(text).toContain('ValueError');
    expect(text).toMatch(/---->/);
    expect(text).toMatch(/never the same code/);
  });
});
