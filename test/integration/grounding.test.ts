/**
 * Grounded answers on the real path: the fixture GGUF in the real host (under a
 * real Jupyter server), forced by per-turn grammars, code in a real ipykernel.
 * The question names a CSV file: the context gives its columns, read through
 * the kernel; a guessed column raises KeyError and the observation names the
 * real ones; an answer with a number no cell printed is sent back once; every
 * prompt the host received hashes to what the episode recorded.
 */
import { KernelManager } from '@jupyterlab/services';

import { describeDataFiles } from '../../src/agent/dataFiles';
import { gatherContext } from '../../src/agent/gatherContext';
import { HostModel } from '../../src/agent/hostModel';
import { KernelRunner } from '../../src/agent/kernelRunner';
import { AgentLoop } from '../../src/agent/loop';
import { AgentModel, ModelTurnRequest } from '../../src/agent/types';
import { conversation, promptSha256 } from '../../src/episode/conversation';
import { formatAnswer, formatStep } from '../../src/protocol';
import { runContext, RunningJupyter, startJupyterWithKernels, stopJupyterWithKernels } from './processes';

jest.setTimeout(400000);

const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;
const WRITE_CSV = "open('sales.csv', 'w').write('region,units,unit_price\\nEast,2,10.5\\nWest,1,4.0\\nEast,1,3.0\\nWest,3,2.0\\n')";

describe('grounded answers on the real host and kernel', () => {
  let jupyter: RunningJupyter;
  let kernels: KernelManager;

  beforeAll(async () => {
    ({ jupyter, kernels } = await startJupyterWithKernels());
  });

  afterAll(() => stopJupyterWithKernels(jupyter, kernels));

  it('gives the file columns, the real columns after a KeyError, and sends an ungrounded answer back once', async () => {
    const kernel = await kernels.startNew({ name: 'python3' });
    const runner = new KernelRunner(kernel);
    const setup = await runner.run(WRITE_CSV, runContext('setup', 0));
    expect(setup.status).toBe('ok');

    const question = 'Using sales.csv, which region had the highest total revenue, and how much?';
    const files = await describeDataFiles(question, e => runner.inspect(e));
    // Text columns are `object` before pandas 3 and `str` from it on.
    expect(files).toEqual({
      source: 'question',
      files: [{ name: 'sales.csv', rows: 4, dtypes: { region: expect.stringMatching(/^(object|str)$/), units: 'int64', unit_price: 'float64' }, columns: 3 }]
    });
    const context = await gatherContext({ question, inspect: e => runner.inspect(e) });
    expect(context).toMatch(/^Below, between <data> and <\/data>.*\n<data>\nData files in the kernel's working folder:\n- 'sales\.csv': 4 rows; columns 'region': (object|str), 'units': int64, 'unit_price': float64/);
    // A question that names no file gets the working folder's data files, as a newcomer asks it.
    const unnamed = await gatherContext({ question: 'Which region had the highest total revenue?', inspect: e => runner.inspect(e) });
    expect(unnamed).toMatch(/\n<data>\nData files in the kernel's working folder:\n- 'sales\.csv': 4 rows; columns 'region': (object|str), 'units': int64, 'unit_price': float64/);

    const inner = new HostModel(
      (path, init) => fetch(`${jupyter.url}/datarus/api/${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: `token ${jupyter.token}` } }),
      'datarus-test-tiny'
    );
    const requests: ModelTurnRequest[] = [];
    const model: AgentModel = {
      name: inner.name,
      complete: (request, onText) => (requests.push(request), inner.complete(request, onText)),
      endEpisode: id => inner.endEpisode(id)
    };
    const turns = [
      formatStep({ thought: 'Sum the amount.', code: "import pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(df['amount'].sum())" }),
      formatStep({ thought: 'Revenue is units times price.', code: "t = (df.units * df.unit_price).groupby(df.region).sum()\nprint(t.idxmax(), t.max())" }),
      formatAnswer({ thought: 'A guess.', text: 'East, with 50000.' }),
      formatAnswer({ thought: 'As printed.', text: 'East, with 24.0.' })
    ].map(exactly);
    const episode = await new AgentLoop(model, runner).run({ episodeId: 'grounding-it', question, context, profile: 'compact', grammar: turn => turns[turn] });

    expect(episode.status).toBe('answered');
    expect(episode.steps.map(s => s.status)).toEqual(['error', 'ok']);
    expect(episode.steps[0].observation).toContain("KeyError: 'amount'");
    expect(episode.steps[0].observation).toMatch(/\[columns of the DataFrames in the kernel: df: 'region', 'units', 'unit_price'\]$/);
    expect(episode.steps[1].observation).toBe('East 24.0');
    expect(episode.rejectedAnswers).toMatchObject([{ afterSteps: 2, unsupported: ['50000'], answer: { text: 'East, with 50000.' } }]);
    expect(episode.answer?.text).toBe('East, with 24.0.');
    expect(episode.answerGrounding).toEqual({ grounded: true, unsupported: [] });
    // What the host was sent, turn by turn, is what the record rebuilds.
    const recorded = [episode.steps[0].promptSha256, episode.steps[1].promptSha256, episode.rejectedAnswers![0].promptSha256, episode.answerPromptSha256];
    expect(requests.map(r => promptSha256(r.messages))).toEqual(recorded);
    expect(promptSha256(conversation(JSON.parse(JSON.stringify(episode))))).toBe(episode.answerPromptSha256);
    expect(requests[3].messages[requests[3].messages.length - 1].content).toBe(episode.rejectedAnswers![0].feedback);
    await kernel.shutdown();
  });
});
