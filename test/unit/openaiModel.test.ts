import { isContextRefusal } from '../../src/agent/budget';
import { ModelError } from '../../src/agent/hostModel';
import { AgentLoop } from '../../src/agent/loop';
import { ESTIMATE_CHARS_PER_TOKEN, estimateTokens, inferStopString, OpenAIModel } from '../../src/agent/openaiModel';
import type { AgentModel, CodeRunner, ModelTurnRequest } from '../../src/agent/types';
import { conversation, promptSha256 } from '../../src/episode/conversation';
import { shortenedNote } from '../../src/episode/cuts';
import { formatAnswer, formatStep } from '../../src/protocol';

describe('stop string inference for OpenAI-compatible servers', () => {
  const stops = ['</step>', '</stop_analysis>'];
  it('names the closing tag of the block left open', () => {
    expect(inferStopString('<step>\n<thought>t</thought>\n<action_input>\nx\n</action_input>\n', stops)).toBe('</step>');
    expect(inferStopString('<stop_analysis>\n<answer>6</answer>\n', stops)).toBe('</stop_analysis>');
  });
  it('is null when nothing is open', () => {
    expect(inferStopString('plain text', stops)).toBeNull();
    expect(inferStopString('<step>x</step>', stops)).toBeNull();
  });
});

describe('the token budget with an OpenAI-compatible server', () => {
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  const messages = [{ role: 'user' as const, content: 'x'.repeat(1000) }];

  it('estimates the prompt against the context the server states: max_model_len, else llama.cpp /props, else no budget', async () => {
    const asked: string[] = [];
    const vllm = new OpenAIModel({
      baseUrl: 'http://vllm/v1/',
      model: 'qwen',
      fetch: (async (url: string) => {
        asked.push(url);
        return json({ data: [{ id: 'other', max_model_len: 4096 }, { id: 'qwen', max_model_len: 32768 }] });
      }) as typeof fetch
    });
    expect(await vllm.countTokens('e', messages)).toEqual({ tokens: estimateTokens(messages), contextSize: 32768 });
    await vllm.countTokens('e', messages);
    expect(asked).toEqual(['http://vllm/v1/models']); // asked once
    // The estimate errs long: 1,000 characters are at least 400 tokens.
    expect(estimateTokens(messages)).toBeGreaterThanOrEqual(1000 / ESTIMATE_CHARS_PER_TOKEN);

    const llamacpp = new OpenAIModel({
      baseUrl: 'http://llama/v1',
      model: 'any',
      fetch: (async (url: string) =>
        url === 'http://llama/props' ? json({ default_generation_settings: { n_ctx: 8192 } }) : json({ data: [{ id: 'm.gguf' }, { id: 'n.gguf' }] })) as typeof fetch
    });
    expect((await llamacpp.countTokens('e', messages))?.contextSize).toBe(8192);

    const silent = new OpenAIModel({ baseUrl: 'http://other/v1', model: 'm', fetch: (async () => json({ error: 'no' }, 404)) as typeof fetch });
    expect(await silent.countTokens('e', messages)).toBeNull();
  });

  it('a 400 for the context length is cut and tried once more, not the end of the episode', async () => {
    const long = `part 1\n${'   1     12345\n'.repeat(200)}`;
    const limit = 3000;
    const sent: ModelTurnRequest[] = [];
    const turns = [formatStep({ thought: 'Print it.', code: 'print(part)' }), formatAnswer({ thought: 'It printed.', text: 'It was printed.' })];
    // A server that counts nothing beforehand and refuses prompts over `limit` characters, as vLLM does with a 400.
    const model: AgentModel = {
      name: 'remote',
      complete: async request => {
        const chars = request.messages.reduce((n, m) => n + m.content.length, 0);
        if (chars > limit) {
          throw new ModelError(`http://vllm/v1/chat/completions answered 400: This model's maximum context length is 1000 tokens. However, you requested ${chars} tokens`, 400);
        }
        sent.push(request);
        const text = turns.shift()!;
        const stop = request.stop.find(s => text.includes(s));
        return { text: stop ? text.slice(0, text.indexOf(stop)) : text, stopString: stop ?? null, stopReason: stop ? 'stop' : 'eos' };
      }
    };
    const runner: CodeRunner = { run: async () => ({ status: 'ok', outputs: [{ output_type: 'stream', name: 'stdout', text: long }], durationMs: 1 }) };
    const episode = await new AgentLoop(model, runner).run({ episodeId: 'refused', question: 'Print part 1.' });

    expect([episode.status, episode.reason]).toEqual(['answered', undefined]);
    expect(episode.observationCuts).toHaveLength(1);
    expect(episode.observationCuts![0]).toMatchObject({ step: 0, afterSteps: 1 });
    expect(shortenedNote(episode)).toMatch(/^the outputs of 1 step were shortened/);
    // The retried prompt is what the episode rebuilds, and its hash is the one recorded for the answer.
    expect(conversation(episode, 1)).toEqual(sent[1].messages);
    expect(promptSha256(sent[1].messages)).toBe(episode.answerPromptSha256);
  });

  it('a refusal with nothing left to cut, or for another reason, still ends the episode with the server\'s words', async () => {
    const model: AgentModel = {
      name: 'remote',
      complete: async () => {
        throw new ModelError('http://vllm/v1/chat/completions answered 400: the prompt is too long for this context', 400);
      }
    };
    const runner: CodeRunner = { run: async () => ({ status: 'ok', outputs: [], durationMs: 1 }) };
    const episode = await new AgentLoop(model, runner).run({ episodeId: 'refused-2', question: 'Why?' });
    expect(episode.status).toBe('failed');
    expect(episode.reason).toMatch(/answered 400: the prompt is too long/);
    expect(isContextRefusal(new ModelError('answered 400: unknown field', 400))).toBe(false);
    expect(isContextRefusal(new ModelError('answered 500: context', 500))).toBe(false);
  });
});
