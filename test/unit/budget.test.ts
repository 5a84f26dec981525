/**
 * The token budget (src/agent/budget.ts) in the agent loop, with a scripted
 * model that counts tokens like a host (a token per four characters of the
 * rendered messages) and a context of 2,048 tokens: long outputs are cut,
 * oldest first, the cuts are in the episode so every prompt rebuilds to its
 * recorded hash, and the episode answers instead of overflowing. The real host
 * and kernel are in test/integration/budget.test.ts.
 */
import { observationLine, planCuts, replyReserve, shortenObservation } from '../../src/agent/budget';
import { AgentLoop, AgentRunOptions } from '../../src/agent/loop';
import type { ChatMessage } from '../../src/agent/messages';
import { AgentModel, CodeRunner, ExecutionResult, ModelTurn, ModelTurnRequest, NbOutput, PromptCount } from '../../src/agent/types';
import { conversation, promptSha256 } from '../../src/episode/conversation';
import { charactersCut, shortenedNote } from '../../src/episode/cuts';
import type { Episode } from '../../src/episode/types';
import { endLine } from '../../src/headless/progress';
import { describeEnding } from '../../src/lab/endings';
import { ANSWER_REQUEST_WHY, DATARUS_R1_PROFILE, formatAnswer, formatStep } from '../../src/protocol';

const CONTEXT = 2048;
/** About what a real tokenizer gives for English and printed tables; the template adds a few per message. */
const tokensOf = (messages: ChatMessage[]) => messages.reduce((sum, m) => sum + Math.ceil(m.content.length / 4) + 4, 0);

/** Scripted turns, each cut at its stop string; counts prompts and refuses one over the context, as the host does. */
class CountingModel implements AgentModel {
  readonly name = 'counting';
  readonly requests: ModelTurnRequest[] = [];
  counts = 0;
  constructor(
    private readonly _turns: string[],
    private readonly _context: number | null = CONTEXT,
    /** The reply when the loop asks for the answer, whatever the script says next. */
    private readonly _whenAsked?: string
  ) {}

  async countTokens(_episodeId: string, messages: ChatMessage[]): Promise<PromptCount | null> {
    this.counts++;
    return this._context === null ? null : { tokens: tokensOf(messages), contextSize: this._context };
  }

  async complete(request: ModelTurnRequest, onText: (text: string) => void): Promise<ModelTurn> {
    if (this._context !== null && tokensOf(request.messages) > this._context - 1) {
      throw new Error(`the model host answered 400: the prompt is ${tokensOf(request.messages)} tokens and the context holds ${this._context}`);
    }
    this.requests.push({ ...request, messages: request.messages.map(m => ({ ...m })) });
    const asked = this._whenAsked !== undefined && request.messages[request.messages.length - 1].content.includes(ANSWER_REQUEST_WHY.context);
    const turn = asked ? this._whenAsked : this._turns.shift();
    if (turn === undefined) {
      throw new Error('script exhausted');
    }
    const stop = request.stop.find(s => turn.includes(s));
    const text = stop ? turn.slice(0, turn.indexOf(stop)) : turn;
    onText(text);
    return { text, stopString: stop ?? null, stopReason: stop ? 'stop' : 'eos' };
  }
}

class PrintingRunner implements CodeRunner {
  constructor(private readonly _print: (step: number) => string) {}
  runs = 0;
  async run(): Promise<ExecutionResult> {
    const text = this._print(this.runs++);
    return { status: 'ok', outputs: [{ output_type: 'stream', name: 'stdout', text }], durationMs: 1 };
  }
}

/** About 1,500 characters a step, a table of numbers like a printed DataFrame; its first and last lines name the step. */
const table = (step: number) =>
  [`step ${step} table`, ...Array.from({ length: 80 }, (_, i) => `${String(i).padStart(3)}  ${(step * 1000 + i * 7).toString().padStart(8)}  v${i}`), `end of step ${step}`].join('\n') + '\n';

const steps = (n: number) => Array.from({ length: n }, (_, i) => formatStep({ thought: `Look at part ${i + 1}.`, code: `print(part(${i + 1}))` }));
const ANSWER = formatAnswer({ thought: 'The last table ends the series.', text: 'The series ends at step 8.' });

async function run(model: CountingModel, runner: CodeRunner, extra: Partial<AgentRunOptions> = {}): Promise<Episode> {
  return new AgentLoop(model, runner).run({ episodeId: 'budget-1', question: 'Where does the series end?', limits: { maxTokensPerTurn: 512 }, ...extra });
}

/** Every prompt the loop sent is conversation(episode, k) and hashes to what was recorded. */
function expectPromptsRebuild(episode: Episode, requests: ModelTurnRequest[]): void {
  const logged: Episode = JSON.parse(JSON.stringify(episode));
  requests.forEach((request, k) => {
    const recorded = k < logged.steps.length ? logged.steps[k].promptSha256 : logged.answerPromptSha256;
    expect(promptSha256(conversation(logged, k))).toBe(recorded);
    expect(conversation(logged, k)).toEqual(request.messages);
  });
}

describe('cutting an observation', () => {
  it('keeps head and tail with the count between, or one line; leaves short ones alone', () => {
    const text = table(3);
    const short = shortenObservation(text)!;
    expect(short.observation.startsWith('step 3 table\n')).toBe(true);
    expect(short.observation.endsWith('end of step 3\n')).toBe(true);
    expect(short.observation).toContain(`\n… ${short.cutChars} characters cut …\n`);
    expect(short.observation.length).toBeLessThan(text.length);
    expect(short.cutChars).toBe(text.length - 600);
    const line = observationLine(text)!;
    expect(line.observation).toBe(`step 3 table … ${text.length - 'step 3 table'.length} characters cut …`);
    expect(shortenObservation('6')).toBeNull();
    expect(observationLine('6')).toBeNull();
  });

  it('plans the oldest observations first, and the latest step keeps more than one line', () => {
    const episode = { steps: [0, 1, 2].map(i => ({ index: i, status: 'ok', observation: table(i) })), observationCuts: [] } as unknown as Episode;
    const first = planCuts(episode, 100);
    expect(first.map(c => [c.step, c.kind])).toEqual([[0, 'shortened']]);
    const all = planCuts(episode, 1e9);
    expect(all.map(c => [c.step, c.kind])).toEqual([[0, 'line'], [1, 'line'], [2, 'shortened']]);
    // The latest keeps its head and tail, at the tighter size when nothing else is left.
    expect(all[2].observation).toContain(`… ${table(2).length - 200} characters cut …`);
    const saves = table(0).length - shortenObservation(table(0))!.observation.length;
    expect(planCuts(episode, saves + 1).map(c => [c.step, c.kind])).toEqual([[0, 'shortened'], [1, 'shortened']]);
    expect(planCuts(episode, 1e9, true).map(c => [c.step, c.kind])).toEqual([[0, 'line'], [1, 'line'], [2, 'line']]);
  });

  it('keeps at most a quarter of the context for the reply', () => {
    expect(replyReserve(2048, 2048)).toBe(512);
    expect(replyReserve(256, 2048)).toBe(256);
    expect(replyReserve(2048, 32768)).toBe(2048);
  });
});

describe('the token budget in the loop', () => {
  it('a forced 8-step episode printing ~1,500 characters a step answers in a 2,048-token context; every prompt rebuilds', async () => {
    const model = new CountingModel([...steps(8), ANSWER]);
    const episode = await run(model, new PrintingRunner(i => table(i + 1)));

    expect(episode.status).toBe('answered');
    expect(episode.steps).toHaveLength(8);
    expect(episode.answerRequest).toBeUndefined();
    // Without the budget the prompt would not have fitted: the outputs alone are 8 × ~1,500 characters.
    const uncut = { ...episode, observationCuts: undefined };
    expect(tokensOf(conversation(uncut))).toBeGreaterThan(CONTEXT);
    // Every prompt and its reply fit.
    for (const request of model.requests) {
      expect(tokensOf(request.messages) + 1 + replyReserve(512, CONTEXT)).toBeLessThanOrEqual(CONTEXT);
    }
    const cuts = episode.observationCuts!;
    expect(cuts.length).toBeGreaterThan(0);
    // The oldest cut first; the latest output reached the model whole.
    expect(Math.min(...cuts.map(c => c.step))).toBe(0);
    expect(cuts.some(c => c.step === 7)).toBe(false);
    expect(model.requests[8].messages.some(m => m.content.includes(table(8)))).toBe(true);
    // Cuts come in chunks, not one per turn.
    expect(new Set(cuts.map(c => c.afterSteps)).size).toBeLessThan(8);
    // The recorded observation is what ran; the conversation carries the cut.
    expect(episode.steps[0].observation).toBe(table(1).trimEnd());
    expectPromptsRebuild(episode, model.requests);

    const note = shortenedNote(episode)!;
    expect(note).toMatch(/^the outputs of \d steps were shortened to fit the model's context \([\d,]+ characters cut\)$/);
    expect(charactersCut(episode)).toBeGreaterThan(1500);
    expect(describeEnding(episode)).toBe(`answered after 8 steps; ${note}`);
    expect(endLine(episode)).toBe(`note: ${note}`);
  });

  it('asks for the answer when even one-line outputs do not fit, and the answer turn rebuilds too', async () => {
    // 40 steps: their own text outgrows the context however short the outputs.
    const model = new CountingModel(steps(40), CONTEXT, ANSWER);
    const episode = await run(model, new PrintingRunner(i => table(i + 1)), { limits: { maxTokensPerTurn: 512, maxSteps: 40 } });

    expect([episode.status, episode.reason]).toEqual(['answered', undefined]);
    expect(episode.answerRequest?.reason).toBe('context');
    expect(episode.steps.length).toBeLessThan(40);
    expect(episode.observationCuts!.some(c => c.kind === 'line')).toBe(true);
    expectPromptsRebuild(episode, model.requests);
    expect(describeEnding(episode)).toMatch(/^answered after \d+ steps \(asked for the answer: the context was full\); the outputs of \d+ steps were shortened/);
  });

  it('ends the episode on the model side only after the answer turn asked for at a full context has returned', async () => {
    // Without awaiting that turn, the loop's finally ended the episode while the host generated it, which aborted it.
    const events: string[] = [];
    class SlowAnswer extends CountingModel {
      async complete(request: ModelTurnRequest, onText: (text: string) => void): Promise<ModelTurn> {
        const asked = request.messages[request.messages.length - 1].content.includes(ANSWER_REQUEST_WHY.context);
        if (asked) {
          events.push('answer turn started');
          await new Promise(resolve => setTimeout(resolve, 20));
        }
        const turn = await super.complete(request, onText);
        if (asked) {
          events.push('answer turn returned');
        }
        return turn;
      }
      async endEpisode(): Promise<void> {
        events.push('episode ended');
      }
    }
    const model = new SlowAnswer(steps(40), CONTEXT, ANSWER);
    const episode = await run(model, new PrintingRunner(i => table(i + 1)), { limits: { maxTokensPerTurn: 512, maxSteps: 40 } });
    expect([episode.status, episode.answerRequest?.reason]).toEqual(['answered', 'context']);
    expect(events).toEqual(['answer turn started', 'answer turn returned', 'episode ended']);
  });

  it('keeps room to ask for the answer after a step: steps whose own text fills the context end with an answer', async () => {
    // A small reply limit: each step adds more than the reply's reserve (its output, the next user turn), so a
    // check of the reply alone would let a step fill the context and leave no room for the answer request.
    const model = new CountingModel(steps(200), CONTEXT, ANSWER);
    const episode = await run(model, new PrintingRunner(i => `part ${i + 1} printed\n`), { limits: { maxTokensPerTurn: 64, maxSteps: 200 } });

    expect([episode.status, episode.reason]).toEqual(['answered', undefined]);
    expect(episode.answerRequest?.reason).toBe('context');
    expect(episode.steps.length).toBeGreaterThan(10);
    for (const request of model.requests) {
      expect(tokensOf(request.messages) + 1 + request.maxTokens!).toBeLessThanOrEqual(CONTEXT);
    }
    expect(model.requests[model.requests.length - 1].maxTokens).toBeGreaterThanOrEqual(64);
    expectPromptsRebuild(episode, model.requests);
  });

  it('cuts are rare enough that a 30-step episode evaluates at most 1.3 times what a cache without cuts would', async () => {
    // The KV cache as a host keeps it: each prompt is evaluated from where it leaves the previous prompt and reply.
    const model = new CountingModel(steps(30), CONTEXT, ANSWER);
    const episode = await run(model, new PrintingRunner(i => table(i + 1)), { limits: { maxTokensPerTurn: 256, maxSteps: 31 } });
    expect(episode.status).toBe('answered');
    expect(episode.steps.length).toBeGreaterThanOrEqual(20);
    const rendered = (messages: ChatMessage[]) => messages.map(m => `${m.role}\n${m.content}\n`).join('');
    const replies = model.requests.map((_, k) => (k < episode.steps.length ? episode.steps[k].raw ?? '' : ''));
    let held = '';
    let evaluated = 0;
    /** What no cache could have held: each turn's messages that the previous prompt did not have, and the replies. */
    let fresh = 0;
    model.requests.forEach((request, k) => {
      // (A step's reply comes back inside its assistant message, so the replies are counted there.)
      const before = new Set(k === 0 ? [] : model.requests[k - 1].messages.map(m => rendered([m])));
      fresh += request.messages.map(m => rendered([m])).filter(m => !before.has(m)).reduce((sum, m) => sum + m.length, 0);
      const prompt = rendered(request.messages);
      let same = 0;
      while (same < prompt.length && prompt[same] === held[same]) {
        same++;
      }
      evaluated += prompt.length - same + replies[k].length;
      held = prompt + replies[k];
    });
    const final = rendered(conversation(episode)).length;
    const cut = rendered(conversation({ ...episode, observationCuts: [] })).length - final;
    expect(cut).toBeGreaterThan(20 * 1000);
    // The figure (÷ final prompt and cut tokens), and a stricter one: ÷ what no cache could have held.
    expect(evaluated / (final + cut)).toBeLessThanOrEqual(1.3);
    expect(evaluated / fresh).toBeLessThanOrEqual(1.3);
    // Not a cut every turn: each one makes the prompt after it evaluated again.
    expect(new Set(episode.observationCuts!.map(c => c.afterSteps)).size).toBeLessThan(episode.steps.length);
  });

  it('one output larger than the whole budget is cut to its head and tail, and the episode answers', async () => {
    const huge = `first row\n${'1234567890\n'.repeat(100000)}last row\n`;
    const model = new CountingModel([...steps(1), formatAnswer({ thought: 'Its head is shown.', text: 'The output starts with its first row.' })]);
    const episode = await run(model, new PrintingRunner(() => huge), { limits: { maxTokensPerTurn: 512, observationLimit: 2_000_000 } });

    expect([episode.status, episode.reason]).toEqual(['answered', undefined]);
    const [cut] = episode.observationCuts!;
    expect(cut).toMatchObject({ step: 0, kind: 'shortened', afterSteps: 1 });
    expect(cut.observation.startsWith('first row\n')).toBe(true);
    expect(cut.observation.endsWith('last row')).toBe(true);
    expectPromptsRebuild(episode, model.requests);
  });

  it('a question longer than the context ends at once with a message, never a request the host refuses', async () => {
    const model = new CountingModel([ANSWER]);
    const episode = await run(model, new PrintingRunner(table), { question: 'Why? '.repeat(3000) });
    expect(episode.status).toBe('failed');
    expect(episode.reason).toMatch(/^the question and its context do not fit the model's context \(\d+ tokens, with 512 kept for the reply, in a context of 2048\)/);
    expect(model.requests).toHaveLength(0);
  });

  it('datarus-r1 keeps its harness\'s 10,000-character cut and adds no cut where the context has room', async () => {
    const model = new CountingModel([...steps(1), ANSWER], 32768);
    const long = 'x'.repeat(15000);
    const episode = await run(model, new PrintingRunner(() => long), { profile: DATARUS_R1_PROFILE.name });
    expect(episode.status).toBe('answered');
    expect(episode.steps[0].observation.length).toBeLessThan(long.length);
    expect(episode.steps[0].observation).toContain('x'.repeat(DATARUS_R1_PROFILE.observationLimit));
    expect(episode.observationCuts).toBeUndefined();
    expect(shortenedNote(episode)).toBeNull();
    expectPromptsRebuild(episode, model.requests);
  });

  it('a model side that cannot count gets no budget: nothing is cut', async () => {
    const model = new CountingModel([...steps(2), ANSWER], null);
    const episode = await run(model, new PrintingRunner(i => table(i + 1)));
    expect(episode.status).toBe('answered');
    expect(episode.observationCuts).toBeUndefined();
    expect(model.counts).toBeGreaterThan(0);
  });
});
