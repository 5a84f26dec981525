/**
 * The judge's pure parts (rubric prompt, grammar, the parse of fixed judge
 * answers, the verdict, the cache key) and the asking logic with a scripted
 * model: timeouts, failures and nonsense give no score with the reason. The
 * judge through the real host and the fixture model is in
 * test/integration/judge.test.ts.
 */
import { judgeEpisode, JudgeCache, judgeRowFields } from '../../src/agent/judge';
import type { AgentModel, ModelTurn, ModelTurnRequest } from '../../src/agent/types';
import { JUDGE_RUBRIC_VERSION, JUDGE_SYSTEM_PROMPT, judgeCacheKey, judgeGrammar, judgeRequest, judgeVerdict, parseJudgeAnswer } from '../../src/episode/judge';
import type { Episode, EpisodeStep } from '../../src/episode/types';

function step(index: number, extra: Partial<EpisodeStep> = {}): EpisodeStep {
  return {
    index,
    thought: `Thought ${index + 1}.`,
    code: `print(${index + 1})`,
    status: 'ok',
    observation: String(index + 1),
    violations: [],
    raw: '',
    startedAt: '2026-01-01T00:00:00Z',
    endedAt: '2026-01-01T00:00:01Z',
    modelMs: 1,
    kernelMs: 1,
    ...extra
  };
}

function episode(extra: Partial<Episode> = {}): Episode {
  return {
    schemaVersion: 1,
    id: 'ep-1',
    question: 'What is the mean price?',
    model: 'm',
    startedAt: '2026-01-01T00:00:00Z',
    status: 'answered',
    steps: [step(0, { status: 'error', error: { ename: 'KeyError', evalue: "'price'" }, observation: "KeyError: 'price'" }), step(1), step(2, { status: 'invalid' })],
    answer: { thought: 'It printed 2.', text: 'The mean price is @mean_price[2].' },
    ...extra
  };
}

const ANSWER = '{"steps":[{"step":1,"sound":2,"uses_observation":5},{"step":2,"sound":5,"uses_observation":4}],"answer_follows":5,"complete":3}';

class ScriptedJudge implements AgentModel {
  readonly requests: ModelTurnRequest[] = [];
  readonly ended: string[] = [];
  constructor(
    private readonly _reply: (request: ModelTurnRequest) => Promise<ModelTurn>,
    readonly name = 'judge-model'
  ) {}
  complete(request: ModelTurnRequest): Promise<ModelTurn> {
    this.requests.push(request);
    return this._reply(request);
  }
  async endEpisode(id: string): Promise<void> {
    this.ended.push(id);
  }
}

const says = (text: string, stopReason: ModelTurn['stopReason'] = 'eos') => new ScriptedJudge(async () => ({ text, stopString: null, stopReason }));

class MemoryCache implements JudgeCache {
  readonly map = new Map<string, ReturnType<typeof judgeVerdict>>();
  get(key: string) {
    return this.map.get(key);
  }
  async set(key: string, verdict: ReturnType<typeof judgeVerdict>) {
    this.map.set(key, verdict);
  }
}

describe('the judge rubric', () => {
  it('shows the judge the question, each step that ran with its output, and the answer', () => {
    const request = judgeRequest(episode({ context: 'The working folder holds `sales.csv`.' }));
    expect(request.messages[0]).toEqual({ role: 'system', content: JUDGE_SYSTEM_PROMPT });
    expect(JUDGE_SYSTEM_PROMPT).toContain(JUDGE_RUBRIC_VERSION);
    const user = request.messages[1].content;
    expect(user).toMatch(/^Question:\nWhat is the mean price\?\n\nContext the analyst was given:\n.*sales\.csv/);
    expect(user).toContain("Step 1\nThought: Thought 1.\nCode:\n```python\nprint(1)\n```\nPrinted (it raised KeyError):\nKeyError: 'price'");
    expect(user).toContain('Step 2\nThought: Thought 2.');
    // The invalid turn ran nothing: it is not a step the judge scores.
    expect(user).not.toContain('Step 3');
    expect(request.steps).toEqual([0, 1]);
    expect(user.endsWith('Final answer:\nThe mean price is @mean_price[2].')).toBe(true);
    expect(judgeRequest(episode({ answer: null, status: 'step_limit' })).messages[1].content).toContain('Final answer: none');
  });

  it('cuts long code and output, saying how much', () => {
    const long = episode({ steps: [step(0, { code: 'x = 1\n'.repeat(2000), observation: 'y'.repeat(5000) })] });
    const user = judgeRequest(long).messages[1].content;
    expect(user).toContain('[… 8000 more characters not shown]');
    expect(user).toContain('[… 3000 more characters not shown]');
  });

  it('holds the answer to one entry per step, in order, with digits 1-5', () => {
    expect(judgeGrammar(2)).toBe(
      [
        'root ::= "{\\"steps\\":[" "{\\"step\\":1,\\"sound\\":" score ",\\"uses_observation\\":" score "}" "," "{\\"step\\":2,\\"sound\\":" score ",\\"uses_observation\\":" score "}" "],\\"answer_follows\\":" score ",\\"complete\\":" score "}"',
        'score ::= [1-5]'
      ].join('\n')
    );
    expect(judgeGrammar(0)).toBe('root ::= "{\\"steps\\":[" "],\\"answer_follows\\":" score ",\\"complete\\":" score "}"\nscore ::= [1-5]');
  });
});

describe('parseJudgeAnswer', () => {
  it('reads the grammar-held answer, mapping entries to the episode\'s step indices', () => {
    expect(parseJudgeAnswer(ANSWER, [0, 4])).toEqual({
      ok: true,
      scores: { steps: [{ step: 0, sound: 2, uses_observation: 5 }, { step: 4, sound: 5, uses_observation: 4 }], answer_follows: 5, complete: 3 }
    });
  });

  it('reads an answer a server wrapped in a fence or words, and entries without their number', () => {
    const wrapped = 'Here is my grading:\n```json\n{ "steps": [ {"sound": 3, "uses_observation": 3} ],\n  "answer_follows": 1, "complete": 2 }\n```';
    expect(parseJudgeAnswer(wrapped, [0])).toMatchObject({ ok: true, scores: { answer_follows: 1, complete: 2 } });
  });

  it.each([
    ['', [0], "the judge's answer is empty"],
    ['I think it is fine.', [0], 'holds no JSON object'],
    ['{"steps": [', [0], 'holds no JSON object'],
    ['{"steps": [}', [0], 'is not valid JSON'],
    ['{"score": 5}', [0], 'has no "steps" list'],
    ['{"steps":[],"answer_follows":5,"complete":5}', [0], 'the judge scored 0 step(s); the episode has 1'],
    ['{"steps":[{"step":2,"sound":5,"uses_observation":5}],"answer_follows":5,"complete":5}', [0], 'entry 1 is numbered 2'],
    ['{"steps":[{"step":1,"sound":7,"uses_observation":5}],"answer_follows":5,"complete":5}', [0], `step 1's "sound" must be an integer from 1 to 5 (got 7)`],
    ['{"steps":[{"step":1,"sound":4.5,"uses_observation":5}],"answer_follows":5,"complete":5}', [0], 'got 4.5'],
    ['{"steps":[{"step":1,"sound":"5","uses_observation":5}],"answer_follows":5,"complete":5}', [0], 'got "5"'],
    ['{"steps":[{"step":1,"sound":5}],"answer_follows":5,"complete":5}', [0], '"uses_observation" must be an integer from 1 to 5 (got nothing)'],
    ['{"steps":[{"step":1,"sound":5,"uses_observation":5}],"answer_follows":0,"complete":5}', [0], '"answer_follows" must be'],
    ['{"steps":[null],"answer_follows":5,"complete":5}', [0], 'entry for step 1 is not an object'],
    ['[1, 2]', [0], 'holds no JSON object']
  ])('refuses %j with a reason', (text, steps, reason) => {
    const parsed = parseJudgeAnswer(text, steps);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok === false && parsed.reason).toContain(reason);
  });
});

describe('judgeVerdict', () => {
  it('normalises 1-5 to [0, 1]: hrm_step the mean of step means, hrm_episode the mean of the two episode scores', () => {
    const parsed = parseJudgeAnswer(ANSWER, [0, 1]);
    if (!parsed.ok) {
      throw new Error(parsed.reason);
    }
    const verdict = judgeVerdict(parsed.scores);
    // Step 1: (0.25 + 1) / 2 = 0.625; step 2: (1 + 0.75) / 2 = 0.875.
    expect(verdict.hrm_step).toBeCloseTo(0.75, 6);
    expect(verdict.hrm_episode).toBeCloseTo((1 + 0.5) / 2, 6);
    expect(verdict.steps[0]).toEqual({ step: 0, sound: 0.25, uses_observation: 1 });
    expect(judgeVerdict({ steps: [], answer_follows: 1, complete: 1 })).toMatchObject({ hrm_step: null, hrm_episode: 0 });
  });
});

describe('judgeCacheKey', () => {
  it('changes with the episode, the judge model and the grammar, not otherwise', () => {
    const request = judgeRequest(episode());
    const key = judgeCacheKey(request, 'judge-a');
    expect(judgeCacheKey(judgeRequest(episode()), 'judge-a')).toBe(key);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(judgeCacheKey(request, 'judge-b')).not.toBe(key);
    expect(judgeCacheKey({ ...request, grammar: 'root ::= "x"' }, 'judge-a')).not.toBe(key);
    expect(judgeCacheKey(judgeRequest(episode({ answer: { thought: '', text: 'Another.' } })), 'judge-a')).not.toBe(key);
    // The episode id and timings are not what the judge reads.
    expect(judgeCacheKey(judgeRequest(episode({ id: 'other', startedAt: '2027-01-01T00:00:00Z' })), 'judge-a')).toBe(key);
  });
});

describe('judgeEpisode', () => {
  it('asks at temperature 0 under the rubric grammar, frees the judge\'s sequence, and caches the verdict', async () => {
    const model = says(ANSWER);
    const cache = new MemoryCache();
    const result = await judgeEpisode(model, episode(), { cache });
    expect(result).toMatchObject({ rubric: JUDGE_RUBRIC_VERSION, model: 'judge-model', cached: false, verdict: { hrm_step: 0.75, hrm_episode: 0.75 } });
    expect(result.reason).toBeUndefined();
    expect(model.requests[0]).toMatchObject({ temperature: 0, grammar: judgeGrammar(2), stop: [], episodeId: 'judge-ep-1' });
    expect(model.ended).toEqual(['judge-ep-1']);
    expect(cache.map.get(result.key)).toEqual(result.verdict);

    const again = await judgeEpisode(model, episode(), { cache });
    expect(again).toMatchObject({ cached: true, verdict: result.verdict });
    expect(model.requests).toHaveLength(1);
  });

  it('gives no score, with the reason, for nonsense, a cut-off answer, a failure or a timeout, and caches none of them', async () => {
    const cache = new MemoryCache();
    const nonsense = await judgeEpisode(says('Looks good to me!'), episode(), { cache });
    expect(nonsense).toMatchObject({ verdict: null, reason: expect.stringContaining('holds no JSON object') });

    const cut = await judgeEpisode(says('{"steps":[{"step":1,"sound":', 'length'), episode(), { cache });
    expect(cut.verdict).toBeNull();
    expect(cut.reason).toMatch(/cut off at 160 tokens/);

    const failing = new ScriptedJudge(async () => {
      throw new Error('connection refused');
    });
    expect(await judgeEpisode(failing, episode(), { cache })).toMatchObject({ verdict: null, reason: 'the judge failed: connection refused' });
    expect(failing.ended).toEqual(['judge-ep-1']);

    // A judge that never answers until its signal aborts, as the host model does.
    const slow = new ScriptedJudge(
      request =>
        new Promise(resolve => request.signal!.addEventListener('abort', () => resolve({ text: '{"st', stopString: null, stopReason: 'abort' })))
    );
    expect(await judgeEpisode(slow, episode(), { cache, timeoutMs: 20 })).toMatchObject({ verdict: null, reason: 'the judge did not answer within 0.02 s' });
    expect(cache.map.size).toBe(0);
  });

  it('uses a grammar it is given instead of the rubric\'s', async () => {
    const model = says(ANSWER);
    await judgeEpisode(model, episode(), { grammar: 'root ::= "x"' });
    expect(model.requests[0].grammar).toBe('root ::= "x"');
  });

  it('puts hrm_step and hrm_episode in the row, null when absent, with the reason', async () => {
    const scored = judgeRowFields(await judgeEpisode(says(ANSWER), episode()));
    expect(scored.parts).toEqual({ hrm_step: 0.75, hrm_episode: 0.75 });
    expect(scored.judge).toMatchObject({ rubric: JUDGE_RUBRIC_VERSION, model: 'judge-model', answer_follows: 1, complete: 0.5 });
    const absent = judgeRowFields(await judgeEpisode(says('no'), episode()));
    expect(absent.parts).toEqual({ hrm_step: null, hrm_episode: null });
    expect(absent.judge).toMatchObject({ reason: expect.stringContaining('holds no JSON object') });
  });
});
