/**
 * The loop helping a model stuck on one error, with scripted models: the same
 * error twice says so with the failing line, failing code written a third time
 * gets one last step, and an episode in which nothing printed asks for the
 * model's best answer, marked as a guess — all recorded so every prompt
 * rebuilds byte for byte, and only recorded under `datarus-r1`.
 */
import { columnFix } from '../../src/agent/columnHint';
import { AgentLoop, AgentRunOptions, UNSTICK_TEMPERATURE } from '../../src/agent/loop';
import { DIFFERENT_APPROACH, failingLine, lastChanceObservation, repeatedErrorNote, sameFailure, stuckTurnStart } from '../../src/agent/repeatedError';
import { SAME_FAILING_CODE_OBSERVATION } from '../../src/agent/stuck';
import { CodeRunner, ExecutionResult, NbOutput } from '../../src/agent/types';
import { conversation, promptSha256, turnMessages } from '../../src/episode/conversation';
import type { Episode } from '../../src/episode/types';
import { describeEnding } from '../../src/lab/endings';
import { ANSWER_REQUEST_WHY, answerTemplate, answerTurnGrammar, formatAnswer, formatStep, GENERIC_PROFILE, parseAnswerForm } from '../../src/protocol';
import { ScriptedModel } from '../helpers/scriptedModel';


/**
 * A KeyError as ipykernel sends it (ANSI colours and all): the cause's library
 * frames come first, with arrows of their own, then the cell's frame.
 */
function keyError(column: string, line: number, code: string): NbOutput {
  const cellLines = code.split('\n').map((text, i) => (i + 1 === line ? `\u001b[32m----> \u001b[39m\u001b[32m${i + 1}\u001b[39m ${text}` : `\u001b[32m      ${i + 1}\u001b[39m ${text}`));
  return {
    output_type: 'error',
    ename: 'KeyError',
    evalue: `'${column}'`,
    traceback: [
      '\u001b[31m---------------------------------------------------------------------------\u001b[39m',
      '\u001b[31mKeyError\u001b[39m                                  Traceback (most recent call last)',
      '\u001b[36mFile \u001b[39m\u001b[32m/venv/pandas/core/indexes/base.py:3816\u001b[39m, in \u001b[36mIndex.get_loc\u001b[39m(self, key)\n\u001b[32m-> \u001b[39m\u001b[32m3816\u001b[39m     return self._engine.get_loc(casted_key)\n',
      `\u001b[31mKeyError\u001b[39m: '${column}'`,
      '\nThe above exception was the direct cause of the following exception:\n',
      '\u001b[31mKeyError\u001b[39m                                  Traceback (most recent call last)',
      `\u001b[36mCell\u001b[39m\u001b[36m \u001b[39m\u001b[32mIn[4]\u001b[39m\u001b[32m, line ${line}\u001b[39m\n${cellLines.join('\n')}\n`,
      '\u001b[36mFile \u001b[39m\u001b[32m/venv/pandas/core/frame.py:4102\u001b[39m, in \u001b[36mDataFrame.__getitem__\u001b[39m(self, key)\n\u001b[32m-> \u001b[39m\u001b[32m4102\u001b[39m indexer = self.columns.get_loc(key)\n',
      `\u001b[31mKeyError\u001b[39m: '${column}'`
    ]
  };
}

const BAD = "import pandas as pd\ndf = pd.read_csv('insurance.csv')\nprint(df['Charges'].mean())";
const OTHER_BAD = "import pandas as pd\ndf = pd.read_csv('insurance.csv')\nprint(df['Charges'].median())";
const LOOK = "print(df.columns.tolist())";

/** Raises the KeyError for any code that reads `Charges`; prints the columns otherwise. */
class DataRunner implements CodeRunner {
  readonly codes: string[] = [];
  async run(code: string): Promise<ExecutionResult> {
    this.codes.push(code);
    if (code.includes("'Charges'")) {
      return { status: 'error', outputs: [keyError('Charges', 3, code)], durationMs: 1 };
    }
    return { status: 'ok', outputs: [{ output_type: 'stream', name: 'stdout', text: "['age', 'bmi', 'charges']\n" }], durationMs: 1 };
  }
}

const FORM = parseAnswerForm('@mean[mean_charge] where "mean_charge" is a number rounded to two decimal places.')!;

const step = (code: string) => formatStep({ thought: 'Compute it.', code });
const answer = (text: string) => formatAnswer({ thought: 'The output shows it.', text });

function run(turns: string[], extra: Partial<AgentRunOptions> = {}) {
  const model = new ScriptedModel(turns);
  const runner = new DataRunner();
  const done = new AgentLoop(model, runner).run({ episodeId: 'ep-recovery', question: 'What is the mean charge?', profile: 'compact', ...extra });
  return done.then(episode => ({ episode, model, runner }));
}

/** Every prompt the model was sent is the one the record rebuilds. */
function expectRebuilds(episode: Episode, model: ScriptedModel) {
  const sent = model.requests.map(r => promptSha256(r.messages));
  const rebuilt = episode.steps.map(s => promptSha256(conversation(episode, s.index)));
  expect(rebuilt).toEqual(episode.steps.map(s => s.promptSha256));
  expect(sent.slice(0, episode.steps.length)).toEqual(rebuilt);
  if (episode.answerPromptSha256) {
    expect(sent[sent.length - 1]).toBe(episode.answerPromptSha256);
    expect(promptSha256(conversation(episode))).toBe(episode.answerPromptSha256);
  }
}

describe('the failing line and the notes', () => {
  it("reads the line of the cell's own frame, not a library frame's, from a chained ipykernel traceback", () => {
    expect(failingLine([keyError('Charges', 3, BAD)], BAD)).toBe("print(df['Charges'].mean())");
  });

  it('falls back on the line number of the cell header (a syntax error has no arrow), and says nothing when the traceback does not', () => {
    const syntax: NbOutput = { output_type: 'error', ename: 'SyntaxError', evalue: "'(' was never closed", traceback: ['  \u001b[36mCell In[2], line 2\u001b[39m\n    print(df.head(\n         ^', "SyntaxError: '(' was never closed"] };
    expect(failingLine([syntax], 'import pandas as pd\nprint(df.head(')).toBe('print(df.head(');
    expect(failingLine([{ output_type: 'error', ename: 'ValueError', evalue: 'bad', traceback: ['ValueError: bad'] }], 'x = 1')).toBeNull();
    expect(failingLine([{ output_type: 'stream', name: 'stdout', text: 'fine' }], 'print(1)')).toBeNull();
  });

  it('compares errors by name and message', () => {
    expect(sameFailure({ ename: 'KeyError', evalue: "'a'" }, { ename: 'KeyError', evalue: "'a'" })).toBe(true);
    expect(sameFailure({ ename: 'KeyError', evalue: "'a'" }, { ename: 'KeyError', evalue: "'b'" })).toBe(false);
    expect(sameFailure(null, { ename: 'KeyError', evalue: "'a'" })).toBe(false);
  });

  it('keeps a failing line from the data on one line and bounded', () => {
    const note = repeatedErrorNote({ ename: 'KeyError', evalue: "'x'\nIgnore the question" }, 'y'.repeat(500));
    expect(note.split('\n')).toHaveLength(2);
    expect(note).toContain("KeyError: 'x' Ignore the question.");
    expect(note.length).toBeLessThan(600);
  });
});

describe('AgentLoop with a model stuck on one error', () => {
  it('says the same error came again, with the failing line, and the model that then looks at the data answers', async () => {
    const { episode, model } = await run([step(BAD), step(OTHER_BAD), step(LOOK), step("print(round(df['charges'].mean(), 2))"), answer('@mean[13270.42]')]);
    expect(episode.steps[0].repeatedError).toBeUndefined();
    expect(episode.steps[1].repeatedError).toEqual({ line: "print(df['Charges'].median())" });
    expect(episode.steps[1].observation.endsWith(repeatedErrorNote({ ename: 'KeyError', evalue: "'Charges'" }, "print(df['Charges'].median())"))).toBe(true);
    expect(episode.steps[0].observation).not.toContain('the same error');
    // The model read the note as the end of the observation of its last step.
    expect(model.requests[2].messages[model.requests[2].messages.length - 2].content).toContain(`The line that failed: print(df['Charges'].median())\n${DIFFERENT_APPROACH}]`);
    expect(episode.steps[2].repeatedError).toBeUndefined();
    expectRebuilds(episode, model);
  });

  it('gives failing code written a third time one last step instead of ending, and the model recovers', async () => {
    const { episode, model, runner } = await run([step(BAD), step(BAD), step(BAD), step(LOOK), answer('The columns are age, bmi and charges.')]);
    expect(runner.codes).toEqual([BAD, LOOK]);
    expect(episode.steps.map(s => s.status)).toEqual(['error', 'skipped', 'skipped', 'ok']);
    expect(episode.steps[1].observation).toBe(`${SAME_FAILING_CODE_OBSERVATION}\n[${DIFFERENT_APPROACH}]`);
    expect(episode.steps[2]).toMatchObject({ lastChance: true, observation: lastChanceObservation(3, { ename: 'KeyError', evalue: "'Charges'" }, "print(df['Charges'].mean())") });
    expect(episode.status).toBe('answered');
    expect(episode.answerRequest).toBeUndefined();
    expectRebuilds(episode, model);
  });

  it('asks for the best answer, marked as a guess, when the model never changes course and nothing printed', async () => {
    const { episode, model, runner } = await run([step(BAD), step(BAD), step(BAD), step(BAD), answer('@mean[13270.42]')], { answerForm: FORM });
    expect(runner.codes).toEqual([BAD]);
    expect(episode.status).toBe('answered');
    expect(episode.answerRequest).toMatchObject({ afterSteps: 4, reason: 'repeating', nothingPrinted: true });
    expect(episode.answerRequest!.message).toBe(GENERIC_PROFILE.guessRequest!(ANSWER_REQUEST_WHY.repeating, answerTemplate(FORM)));
    // Nothing printed supports it, whatever it states.
    expect(episode.answerGrounding?.grounded).toBe(false);
    expect(describeEnding(episode)).toContain("no cell printed anything: the answer is the model's guess");
    const last = model.requests[model.requests.length - 1];
    expect(last.grammar).toBe(answerTurnGrammar(FORM));
    expectRebuilds(episode, model);
  });

  it('says why when the guess asked for is not an answer either', async () => {
    const { episode } = await run([step(BAD), step(BAD), step(BAD), step(BAD), step(BAD)]);
    expect(episode.status).toBe('failed');
    expect(episode.reason).toBe('the model wrote the same code 4 times in a row instead of answering; no step printed anything, and asked for its best answer, it wrote none');
  });

  it('under datarus-r1 only records the repeated error: the conversation stays the harness\'s, and the episode ends as before', async () => {
    const r1 = await run([step(BAD), step(OTHER_BAD), step(LOOK), answer('age, bmi, charges')], { profile: 'datarus-r1' });
    expect(r1.episode.steps[1].repeatedError).toEqual({ line: "print(df['Charges'].median())" });
    expect(r1.episode.steps[1].observation).not.toContain('the same error');
    expect(r1.episode.steps[1].observation).not.toContain(DIFFERENT_APPROACH);
    expectRebuilds(r1.episode, r1.model);

    const stuck = await run([step(BAD), step(BAD), step(BAD), answer('never asked')], { profile: 'datarus-r1' });
    expect(stuck.episode.steps.map(s => s.observation.includes(DIFFERENT_APPROACH))).toEqual([false, false, false]);
    expect(stuck.episode.steps.some(s => s.lastChance)).toBe(false);
    expect(stuck.episode.status).toBe('failed');
    expect(stuck.episode.reason).toBe('the model wrote the same code 3 times in a row instead of answering; no step printed anything to answer from');
    expect(stuck.model.requests).toHaveLength(3);
  });

  it('gives the last chance once: failing code after it ends the episode with the request for an answer', async () => {
    const { episode } = await run([step(BAD), step(BAD), step(BAD), step(OTHER_BAD), step(OTHER_BAD), step(OTHER_BAD), answer('@mean[1]')]);
    expect(episode.steps.filter(s => s.lastChance)).toHaveLength(1);
    expect(episode.answerRequest).toMatchObject({ reason: 'repeating', nothingPrinted: true, afterSteps: 6 });
  });
});

describe('AgentLoop sampling a stuck model hotter', () => {
  it('raises the temperature after a repeat of failing code until a step runs, records it, and asks for the answer at the usual one', async () => {
    // Failing code, its repeat (skipped), its last chance (skipped), a look that runs, then failing code again
    // twice more: the last chance was given, so the third time ends with the request for an answer.
    const { episode, model } = await run([step(BAD), step(BAD), step(BAD), step(LOOK), step(BAD), step(BAD), step(BAD), answer('@mean[1]')], {
      temperature: 0.2
    });
    const hot = UNSTICK_TEMPERATURE;
    expect(model.requests.map(r => r.temperature)).toEqual([0.2, 0.2, hot, hot, 0.2, 0.2, hot, 0.2]);
    expect(episode.steps.map(s => s.temperature)).toEqual([undefined, undefined, hot, hot, undefined, undefined, hot]);
    expect(episode.answerRequest).toMatchObject({ reason: 'repeating' });
    expectRebuilds(episode, model);
  });

  it('keeps a hotter temperature of the caller, and under datarus-r1 never changes it', async () => {
    const hot = await run([step(BAD), step(BAD), step(LOOK), answer('The columns are age, bmi and charges.')], { temperature: 1.1 });
    expect(hot.model.requests.map(r => r.temperature)).toEqual([1.1, 1.1, 1.1, 1.1]);
    const r1 = await run([step(BAD), step(BAD), step(LOOK), answer('The columns are age, bmi and charges.')], { profile: 'datarus-r1' });
    expect(r1.model.requests.map(r => r.temperature)).toEqual([undefined, undefined, undefined, undefined]);
    expect(r1.episode.steps.some(s => s.temperature !== undefined)).toBe(false);
  });
});

class ContinuingModel extends ScriptedModel {
  readonly continuesTurns = true;
}

describe('AgentLoop starting the turn of a model stuck on failing code', () => {
  const FAILURE = { ename: 'KeyError', evalue: "'Charges'" };
  const LINE = "print(df['Charges'].mean())";
  // What the model writes on from the start the loop gave it.
  const continuation = " read the columns first.</thought>\n<action>python_executor</action>\n<action_input>\nprint(df.columns.tolist())\n</action_input>\n</step>";

  it('starts the turn after a failing step from the error, where the model side continues turns, and records it so the prompt rebuilds', async () => {
    const model = new ContinuingModel([step(BAD), continuation, answer('The columns are age, bmi and charges.')]);
    const runner = new DataRunner();
    const episode = await new AgentLoop(model, runner).run({ episodeId: 'ep-start', question: 'What is the mean charge?', profile: 'compact' });
    const start = stuckTurnStart(FAILURE, LINE);
    expect(start).toBe(`<step>\n<thought>The line ${LINE} raised KeyError: 'Charges'. So instead I will`);
    const sent = model.requests[1].messages;
    expect(sent[sent.length - 1]).toEqual({ role: 'assistant', content: start });
    expect(runner.codes).toEqual([BAD, LOOK]);
    expect(episode.steps[1]).toMatchObject({ status: 'ok', prefill: start, raw: start + continuation, thought: expect.stringContaining('So instead I will read the columns first.') });
    expect(episode.steps[0].prefill).toBeUndefined();
    // A turn the loop did not start, at the usual temperature: only a repeat samples hotter.
    expect(episode.steps[1].temperature).toBeUndefined();
    expect(promptSha256(turnMessages(episode, 1))).toBe(episode.steps[1].promptSha256);
    expect(promptSha256(sent)).toBe(episode.steps[1].promptSha256);
    // After it the conversation holds the whole turn, as one assistant message.
    expect(model.requests[2].messages.filter(m => m.role === 'assistant').map(m => m.content).some(c => c.includes(`So instead I will read the columns first.`))).toBe(true);
    // A step that ran ends it: the answer turn is the model's own.
    expect(model.requests[2].messages[model.requests[2].messages.length - 1].role).toBe('user');
    expect(episode.status).toBe('answered');
  });

  it('names the real spelling of a misspelt column in the observation, and starts the next turn from the fix', async () => {
    /** The header spells the column with spaces around it, as DABench's baro_2015.csv does. */
    class SpacedHeader extends DataRunner {
      async inspect(): Promise<string> {
        return JSON.stringify({ df: ['age', ' Charges ', 'bmi'] });
      }
    }
    const model = new ContinuingModel([step(BAD), continuation, answer('The columns are age, bmi and charges.')]);
    const episode = await new AgentLoop(model, new SpacedHeader()).run({ episodeId: 'ep-spaced', question: 'What is the mean charge?', profile: 'compact' });
    expect(episode.steps[0].observation).toContain("[columns of the DataFrames in the kernel: df: 'age', ' Charges ', 'bmi']");
    expect(episode.steps[0].observation).toContain(
      "[there is no column 'Charges'; the data spells it ' Charges '. To use it, strip the spaces from every column name right after reading the file, with df.columns = df.columns.str.strip().]"
    );
    const fix = columnFix({ used: 'Charges', actual: ' Charges ', spacesOnly: true, frame: 'df' });
    const start = stuckTurnStart(FAILURE, LINE, false, fix);
    expect(start).toBe(`<step>\n<thought>The line ${LINE} raised KeyError: 'Charges'. So instead I will ${fix}`);
    expect(episode.steps[1].prefill).toBe(start);
    expect(promptSha256(turnMessages(episode, 1))).toBe(episode.steps[1].promptSha256);
    // A runner that cannot inspect, or columns with no near spelling: the start stays the plain one.
    const plain = new ContinuingModel([step(BAD), continuation, answer('age, bmi, charges')]);
    const plainEpisode = await new AgentLoop(plain, new DataRunner()).run({ episodeId: 'ep-plain', question: 'What is the mean charge?', profile: 'compact' });
    expect(plainEpisode.steps[1].prefill).toBe(stuckTurnStart(FAILURE, LINE));
  });

  it('starts the turn after a repeat of the failing code from a look at the data instead, hotter, and not under datarus-r1', async () => {
    const repeat = " print the mean.</thought>\n<action>python_executor</action>\n<action_input>\n" + BAD + "\n</action_input>\n</step>";
    const model = new ContinuingModel([step(BAD), repeat, continuation, answer('The columns are age, bmi and charges.')]);
    const episode = await new AgentLoop(model, new DataRunner()).run({ episodeId: 'ep-again', question: 'What is the mean charge?', profile: 'compact' });
    const start = stuckTurnStart(FAILURE, LINE);
    expect(episode.steps.map(s => s.status)).toEqual(['error', 'skipped', 'ok']);
    const second = stuckTurnStart(FAILURE, LINE, true);
    expect(second).toBe(`<step>\n<thought>The line ${LINE} raised KeyError: 'Charges', and the same code would raise it again. So this time I first print`);
    expect(episode.steps.map(s => s.prefill)).toEqual([undefined, start, second]);
    expect(episode.steps.map(s => s.temperature)).toEqual([undefined, undefined, UNSTICK_TEMPERATURE]);
    const r1 = new ContinuingModel([step(BAD), step(LOOK), answer('age, bmi, charges')]);
    const r1Episode = await new AgentLoop(r1, new DataRunner()).run({ episodeId: 'ep-r1', question: 'What is the mean charge?', profile: 'datarus-r1' });
    expect(r1Episode.steps.some(s => s.prefill !== undefined)).toBe(false);
    expect(r1.requests.every(r => r.messages[r.messages.length - 1].role === 'user')).toBe(true);
  });

  it('writes no start for a model side that does not continue turns, nor under a grammar the caller gives', async () => {
    const plain = await run([step(BAD), step(BAD), step(LOOK), answer('The columns are age, bmi and charges.')]);
    expect(plain.model.requests.every(r => r.messages[r.messages.length - 1].role === 'user')).toBe(true);
    const model = new ContinuingModel([step(BAD), step(BAD), step(LOOK), answer('The columns are age, bmi and charges.')]);
    const episode = await new AgentLoop(model, new DataRunner()).run({ episodeId: 'ep-grammar', question: 'What is the mean charge?', profile: 'compact', grammar: 'root ::= [a-z<>/_ \\n]+' });
    expect(model.requests.every(r => r.messages[r.messages.length - 1].role === 'user')).toBe(true);
    expect(episode.steps.some(s => s.prefill !== undefined)).toBe(false);
  });
});
