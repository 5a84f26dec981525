/**
 * Notes for calls the installed data stack removed, on the errors the
 * libraries really raise (messages copied from scikit-learn 1.9, pandas 3.1,
 * matplotlib 3.11), and the loop adding them only where the profile helps.
 */
import { apiChangeHint } from '../../src/agent/apiChanges';
import { AgentLoop } from '../../src/agent/loop';
import { AgentModel, CodeRunner, ExecutionResult, ModelTurn, ModelTurnRequest } from '../../src/agent/types';
import { formatAnswer, formatStep } from '../../src/protocol';

describe('apiChangeHint', () => {
  it('names what replaced a removed call', () => {
    expect(apiChangeHint({ ename: 'TypeError', evalue: "got an unexpected keyword argument 'squared'" })).toContain('root_mean_squared_error(y_true, y_pred)');
    expect(apiChangeHint({ ename: 'TypeError', evalue: "OneHotEncoder.__init__() got an unexpected keyword argument 'sparse'" })).toContain('sparse_output=');
    expect(apiChangeHint({ ename: 'AttributeError', evalue: "'DataFrame' object has no attribute 'append'" })).toContain('pd.concat');
    expect(apiChangeHint({ ename: 'AttributeError', evalue: "'Series' object has no attribute 'iteritems'" })).toContain('items()');
    expect(apiChangeHint({ ename: 'OSError', evalue: "'seaborn' is not a valid package style, path of style file, URL of style file, or library style name" })).toContain('seaborn-v0_8');
    expect(apiChangeHint({ ename: 'TypeError', evalue: "dtype 'str' does not support operation 'mean'" })).toContain("select_dtypes('number')");
    expect(apiChangeHint({ ename: 'TypeError', evalue: "Cannot perform reduction 'sum' with string dtype" })).toContain('pd.to_numeric');
    expect(apiChangeHint({ ename: 'ValueError', evalue: "could not convert string to float: 'Asia'" })).toContain('numeric_only=True');
  });

  it('says nothing for other errors, the same words under another error name, or no error', () => {
    expect(apiChangeHint({ ename: 'KeyError', evalue: "'squared'" })).toBe('');
    expect(apiChangeHint({ ename: 'ValueError', evalue: "got an unexpected keyword argument 'squared'" })).toBe('');
    expect(apiChangeHint({ ename: 'AttributeError', evalue: "'DataFrame' object has no attribute 'amount'" })).toBe('');
    expect(apiChangeHint({ ename: 'TypeError', evalue: "unsupported operand type(s) for /: 'str' and 'int'" })).toBe('');
    expect(apiChangeHint(null)).toBe('');
  });
});

class ScriptedModel implements AgentModel {
  readonly name = 'scripted';
  readonly requests: ModelTurnRequest[] = [];
  constructor(private readonly _turns: string[]) {}
  async complete(request: ModelTurnRequest, onText: (text: string) => void): Promise<ModelTurn> {
    this.requests.push(request);
    const turn = this._turns.shift()!;
    const stop = request.stop.find(s => turn.includes(s));
    const text = stop ? turn.slice(0, turn.indexOf(stop)) : turn;
    onText(text);
    return { text, stopString: stop ?? null, stopReason: stop ? 'stop' : 'eos' };
  }
}

const RMSE = 'from sklearn.metrics import mean_squared_error\nprint(mean_squared_error([1, 2], [1, 3], squared=False))';
const failing: CodeRunner = {
  run: async (): Promise<ExecutionResult> => ({
    status: 'error',
    outputs: [{ output_type: 'error', ename: 'TypeError', evalue: "got an unexpected keyword argument 'squared'", traceback: ["TypeError: got an unexpected keyword argument 'squared'"] }],
    durationMs: 1
  })
};

describe('the loop and removed calls', () => {
  it('adds the note to the observation under compact, not under datarus-r1', async () => {
    const turns = () => [formatStep({ thought: 'RMSE.', code: RMSE }), formatAnswer({ thought: 'Failed.', text: 'unknown' })];
    const compact = await new AgentLoop(new ScriptedModel(turns()), failing).run({ episodeId: 'a', question: 'RMSE?', profile: 'compact' });
    expect(compact.steps[0].observation).toContain('[changed in the installed libraries: scikit-learn 1.6 removed squared=');
    const r1 = await new AgentLoop(new ScriptedModel(turns()), failing).run({ episodeId: 'b', question: 'RMSE?', profile: 'datarus-r1' });
    expect(r1.steps[0].observation).not.toContain('changed in the installed libraries');
  });
});
