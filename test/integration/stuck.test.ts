/**
 * Stuck detection on the real path: the fixture GGUF in the real host (under a
 * real Jupyter server), forced by grammars to repeat one line without end or to
 * write the same step again, with code running in a real ipykernel; the loop
 * then asks for the answer under a grammar that allows only an answer (in the
 * asked form, when there is one).
 */
import { KernelManager } from '@jupyterlab/services';

import { columnFix, renameColumn } from '../../src/agent/columnHint';
import { HostModel } from '../../src/agent/hostModel';
import { KernelRunner } from '../../src/agent/kernelRunner';
import { AgentLoop, UNSTICK_TEMPERATURE } from '../../src/agent/loop';
import { stuckTurnStart } from '../../src/agent/repeatedError';
import { deliveredAnswer } from '../../src/episode/answer';
import { conversation, promptSha256, turnMessages } from '../../src/episode/conversation';
import { formatAnswer, formatStep, parseAnswerForm } from '../../src/protocol';
import { getJson, runContext, RunningJupyter, startJupyterWithKernels, stopJupyterWithKernels } from './processes';

jest.setTimeout(300000);

const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;
const STEP_OPENING = '<step>\n<thought>Sum the quantity.</thought>\n<action>python_executor</action>\n<action_input>\n';
/** A turn that never ends by itself: the opening of a step, then one line forever (the rule never completes). */
const REPEATING = `root ::= ${JSON.stringify(STEP_OPENING)} lines\nlines ::= "python code to calculate the total quantity\\n" lines`;

describe('stuck detection on the real host and kernel', () => {
  let jupyter: RunningJupyter;
  let kernels: KernelManager;
  const status = () => getJson(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } });
  /** Tokens the host has generated so far. */
  const outputTokens = async (): Promise<number> => (await status()).body.episodes?.outputTokens ?? 0;

  beforeAll(async () => {
    ({ jupyter, kernels } = await startJupyterWithKernels());
  });

  afterAll(() => stopJupyterWithKernels(jupyter, kernels));

  const hostModel = () =>
    new HostModel(
      (path, init) => fetch(`${jupyter.url}/datarus/api/${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: `token ${jupyter.token}` } }),
      'datarus-test-tiny'
    );

  it('cuts off a turn that repeats one line long before the token limit, then goes on', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    const before = await outputTokens();
    const turns = [REPEATING, exactly(formatAnswer({ thought: 'Cut off, then answered.', text: 'done' }))];
    const episode = await new AgentLoop(hostModel(), new KernelRunner(kernel)).run({
      episodeId: 'stuck-it-repeat',
      question: 'What is the total quantity?',
      grammar: turn => turns[turn],
      limits: { maxTokensPerTurn: 2048 }
    });
    expect(episode.status).toBe('answered');
    expect(episode.steps).toHaveLength(1);
    expect(episode.steps[0]).toMatchObject({ status: 'invalid', observation: '[not run: it kept repeating the same text and was cut off]' });
    expect(episode.steps[0].raw.startsWith(STEP_OPENING)).toBe(true);
    expect(episode.steps[0].raw.match(/total quantity/g)!.length).toBe(1);
    // The host stopped generating when the loop let go: far fewer than the 2,048 tokens the turn was allowed
    // (the fixture writes one token a byte; the answer turn adds about a hundred).
    let after = await outputTokens();
    for (let last = -1; after !== last; ) {
      last = after;
      await new Promise(r => setTimeout(r, 1000));
      after = await outputTokens();
    }
    expect(after - before).toBeLessThan(1500);
    await kernel.shutdown();
  });

  it('runs a step once when the model writes it three times, then asks for the answer, which the model must give', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    const code = "runs = globals().get('runs', 0) + 1\nprint(runs)";
    const same = exactly(formatStep({ thought: 'Count.', code }));
    const episode = await new AgentLoop(hostModel(), new KernelRunner(kernel)).run({
      episodeId: 'stuck-it-same',
      question: 'Count the runs.',
      // Three forced turns; the fourth is the loop's own: a grammar that allows only the final answer.
      grammar: turn => (turn < 3 ? same : undefined),
      limits: { maxTokensPerTurn: 1024 }
    });
    expect(episode.status).toBe('answered');
    expect(episode.answerRequest).toMatchObject({ afterSteps: 3, reason: 'repeating' });
    expect(episode.answer!.text.length).toBeGreaterThan(0);
    expect(episode.steps.map(s => s.status)).toEqual(['ok', 'skipped', 'skipped']);
    expect(promptSha256(conversation(episode))).toBe(episode.answerPromptSha256);
    const runner = new KernelRunner(kernel);
    const check = await runner.run('print(runs)', runContext('check', 0, 30000));
    expect(check.outputs[0].text).toBe('1\n');
    await kernel.shutdown();
  });

  it('sends an answer not in the asked form back, and the answer-only grammar gives one in form', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    const form = parseAnswerForm('@total[t] @is_big[b] where "t" is a number rounded to two decimal places and "b" is either "yes" or "no".')!;
    const turns = [exactly(formatStep({ thought: 'Sum.', code: 'print(sum([1.234, 2.5]))' })), exactly(formatAnswer({ thought: 'It printed it.', text: 'The total is 3.734.' }))];
    const episode = await new AgentLoop(hostModel(), new KernelRunner(kernel)).run({
      episodeId: 'form-it',
      question: 'What is the total, and is it big?',
      profile: 'compact',
      answerForm: form,
      grammar: turn => turns[turn],
      limits: { maxTokensPerTurn: 1024 }
    });
    expect(episode.rejectedAnswers![0]).toMatchObject({ kind: 'form', afterSteps: 1 });
    // The next turn ran under the answer-only grammar: in form, whatever the random fixture model wrote. Its digits are
    // random too, so it may state a number no output showed and be sent back for that in turn (kind 'grounding').
    const next = episode.rejectedAnswers![1] ?? { kind: 'accepted', answer: episode.answer! };
    expect(['accepted', 'grounding']).toContain(next.kind);
    expect(next.answer.text).toMatch(/^@total\[-?\d+(\.\d+)?([eE][-+]?\d+)?\], @is_big\[(yes|no)\]$/);
    if (episode.status === 'answered') {
      expect(episode.answerForm!.problems).toEqual([]);
      expect(deliveredAnswer(episode)).toMatch(/^@total\[-?\d+(\.\d{1,2})?(e[-+]?\d+)?\], @is_big\[(yes|no)\]$/);
      expect(promptSha256(conversation(episode))).toBe(episode.answerPromptSha256);
    }
    await kernel.shutdown();
  });

  it('tells a model stuck on one error that it is the same error, on which line, gives it one last step, then asks for its best answer', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    const first = "import pandas as pd\nframe = pd.DataFrame({'units': [1, 2]})\nprint(frame['amount'].sum())";
    const again = "import pandas as pd\nframe = pd.DataFrame({'units': [1, 2]})\nprint(frame['amount'].mean())";
    const forced = [first, again, again, again, again].map(code => exactly(formatStep({ thought: 'Sum the amount.', code })));
    const episode = await new AgentLoop(hostModel(), new KernelRunner(kernel)).run({
      episodeId: 'stuck-it-error',
      question: 'What is the total amount?',
      profile: 'compact',
      // Five forced turns; the sixth is the loop's own: the answer-only grammar.
      grammar: turn => forced[turn],
      limits: { maxTokensPerTurn: 1024 }
    });
    expect(episode.reason).toBeUndefined();
    expect(episode.steps.map(s => s.status)).toEqual(['error', 'error', 'skipped', 'skipped', 'skipped']);
    // The line read from ipykernel's real (chained) traceback, not a line of pandas.
    expect(episode.steps[1].repeatedError).toEqual({ line: "print(frame['amount'].mean())" });
    expect(episode.steps[1].observation).toContain("[the same error as the previous step again: KeyError: 'amount'. The line that failed: print(frame['amount'].mean())");
    expect(episode.steps[3]).toMatchObject({ lastChance: true });
    expect(episode.answerRequest).toMatchObject({ afterSteps: 5, reason: 'repeating', nothingPrinted: true });
    expect(episode.status).toBe('answered');
    expect(episode.answerGrounding?.grounded).toBe(false);
    expect(promptSha256(conversation(episode))).toBe(episode.answerPromptSha256);
    for (const step of episode.steps) {
      expect(promptSha256(conversation(episode, step.index))).toBe(step.promptSha256);
    }
    await kernel.shutdown();
  });

  it("tells the model what replaced a call the kernel's pandas removed (the error is the real kernel's)", async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    // pyproject requires pandas >= 2, which has no DataFrame.append.
    const code = "import pandas as pd\nframe = pd.DataFrame({'units': [1]})\nframe = frame.append({'units': 2}, ignore_index=True)\nprint(frame)";
    const turns = [exactly(formatStep({ thought: 'Add a row.', code })), exactly(formatAnswer({ thought: 'It failed.', text: 'done' }))];
    const episode = await new AgentLoop(hostModel(), new KernelRunner(kernel)).run({
      episodeId: 'api-change-it',
      question: 'Add a row.',
      profile: 'compact',
      grammar: turn => turns[turn],
      limits: { maxTokensPerTurn: 1024 }
    });
    expect(episode.steps[0].error).toEqual({ ename: 'AttributeError', evalue: "'DataFrame' object has no attribute 'append'" });
    expect(episode.steps[0].observation).toContain('[changed in the installed libraries: pandas 2.0 removed DataFrame.append');
    await kernel.shutdown();
  });

  it('after a KeyError on a column the header spells with a space, names it and starts the next turn from stripping the names', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    // A header written "units, amount": pandas keeps the space, the model writes the name without it.
    const code = "import io\nimport pandas as pd\nframe = pd.read_csv(io.StringIO('units, amount\\n1, 2\\n'))\nprint(frame['amount'].sum())";
    const turns = [exactly(formatStep({ thought: 'Sum the amount.', code })), undefined, exactly(formatAnswer({ thought: 'It failed.', text: 'unknown' }))];
    const episode = await new AgentLoop(hostModel(), new KernelRunner(kernel)).run({
      episodeId: 'stuck-it-column',
      question: 'What is the total amount?',
      profile: 'compact',
      grammar: turn => turns[turn],
      limits: { maxTokensPerTurn: 256 }
    });
    expect(episode.steps[0].error).toEqual({ ename: 'KeyError', evalue: "'amount'" });
    expect(episode.steps[0].observation).toContain("[columns of the DataFrames in the kernel: frame: 'units', ' amount']");
    expect(episode.steps[0].observation).toContain("[there is no column 'amount'; the data spells it ' amount'. To use it, strip the spaces from every column name right after reading the file, with frame.columns = frame.columns.str.strip().]");
    const start = stuckTurnStart({ ename: 'KeyError', evalue: "'amount'" }, "print(frame['amount'].sum())", false, columnFix({ used: 'amount', actual: ' amount', spacesOnly: true, frame: 'frame' }));
    expect(episode.steps[1].prefill).toBe(start);
    expect(episode.steps[1].raw.startsWith(start)).toBe(true);
    for (const step of episode.steps) {
      expect(promptSha256(turnMessages(episode, step.index))).toBe(step.promptSha256);
    }
    await kernel.shutdown();
  });

  it('after a KeyError on a column the data spells otherwise, starts the next turn from a rename that the real pandas runs', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    // DABench 572: the header says '.SPX', the model writes 'SPX'.
    const code = "import io\nimport pandas as pd\nframe = pd.read_csv(io.StringIO('.SPX,AAPL\\n1,2\\n3,4\\n'))\nprint(frame['SPX'].max())";
    const turns = [exactly(formatStep({ thought: 'The highest close.', code })), undefined, exactly(formatAnswer({ thought: 'It failed.', text: 'unknown' }))];
    const runner = new KernelRunner(kernel);
    const episode = await new AgentLoop(hostModel(), runner).run({
      episodeId: 'stuck-it-renamed-column',
      question: 'What is the highest SPX close?',
      profile: 'compact',
      grammar: turn => turns[turn],
      limits: { maxTokensPerTurn: 256 }
    });
    expect(episode.steps[0].error).toEqual({ ename: 'KeyError', evalue: "'SPX'" });
    const match = { used: 'SPX', actual: '.SPX', spacesOnly: false, frame: 'frame' };
    expect(episode.steps[0].observation).toContain(`[there is no column 'SPX'; the data spells it '.SPX'. To use it, rename the column '.SPX' to 'SPX' right after reading the file, with ${renameColumn(match)}.]`);
    expect(episode.steps[1].prefill).toBe(stuckTurnStart({ ename: 'KeyError', evalue: "'SPX'" }, "print(frame['SPX'].max())", false, columnFix(match)));
    // The line the turn starts from, on a frame read as the failing step read it, makes the model's own code work.
    const fixed = await runner.run(`${code.split('\n').slice(0, 3).join('\n')}\n${renameColumn(match)}\nprint(frame['SPX'].max())`, runContext('stuck-it-renamed-column', 9));
    expect(fixed.status).toBe('ok');
    expect(fixed.outputs).toEqual([expect.objectContaining({ output_type: 'stream', text: '3\n' })]);
    await kernel.shutdown();
  });

  it('starts the turn after a repeat of failing code from the error, and the host writes on from that start', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    const code = "import pandas as pd\nframe = pd.DataFrame({'units': [1, 2]})\nprint(frame['amount'].sum())";
    const failing = exactly(formatStep({ thought: 'Sum the amount.', code }));
    // Failing code twice, then a turn of the fixture's own (no grammar: the loop's start applies), then an answer.
    const turns = [failing, failing, undefined, exactly(formatAnswer({ thought: 'It failed.', text: 'unknown' }))];
    const episode = await new AgentLoop(hostModel(), new KernelRunner(kernel)).run({
      episodeId: 'stuck-it-start',
      question: 'What is the total amount?',
      profile: 'compact',
      grammar: turn => turns[turn],
      limits: { maxTokensPerTurn: 512 }
    });
    const start = stuckTurnStart({ ename: 'KeyError', evalue: "'amount'" }, "print(frame['amount'].sum())");
    expect(episode.steps.map(s => s.status)).toEqual(['error', 'skipped', 'invalid']);
    expect(episode.steps[2].prefill).toBe(start);
    expect(episode.steps[2].raw.startsWith(start)).toBe(true);
    expect(episode.steps[2].raw.length).toBeGreaterThan(start.length);
    expect(episode.steps[2].temperature).toBe(UNSTICK_TEMPERATURE);
    for (const step of episode.steps) {
      expect(promptSha256(turnMessages(episode, step.index))).toBe(step.promptSha256);
    }
    expect(episode.status).toBe('answered');
    await kernel.shutdown();
  });
});
