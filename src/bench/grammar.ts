/**
 * `host.grammar_overhead`: milliseconds a token with the `datarus` protocol
 * grammar ÷ without, same model, same context, same run, interleaved rounds.
 *
 * node-llama-cpp 3.21.1 samples the way llama.cpp's own sampler does
 * (llama/addon/AddonSampler.cpp): it samples without the grammar, checks that
 * one token against it, and masks the whole vocabulary only when it is
 * rejected. So the cost is paid per *rejected* token, each one costing a pass of
 * the grammar over every vocabulary entry; accepted tokens cost one check.
 * This measurement also counts how many tokens the grammar had to correct.
 */
import type { LlamaModel } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import { DATARUS_AGENTIC_GRAMMAR } from '../host/grammar';

type LlamaModule = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });

export interface GrammarOverhead {
  'host.grammar_overhead': number;
  msPerToken: { withGrammar: number; without: number };
  tokensPerRun: number;
  rounds: number;
  vocabulary: number;
  /** Of the tokens generated with the grammar, how many the sampler's own pick was refused (full-vocabulary pass). */
  correctedTokens: number;
  /** The extra time of the grammar run spread over the corrected tokens: what one full-vocabulary pass costs. */
  msPerCorrectedToken: number | null;
  threads: number;
}

const PROMPT = 'You are Datarus, a data analyst. Answer with one <step> block.\nQuestion: what is the mean of column x in df?\n';

/** Generates `tokens` tokens and returns ms per token and the text. */
async function timedRun(
  lib: LlamaModule,
  model: LlamaModel,
  sequence: import('node-llama-cpp', { with: { 'resolution-mode': 'import' } }).LlamaContextSequence,
  tokens: number,
  grammar: import('node-llama-cpp', { with: { 'resolution-mode': 'import' } }).LlamaGrammar | undefined
): Promise<{ msPerToken: number; generated: number[] }> {
  await sequence.clearHistory();
  const completion = new lib.LlamaCompletion({ contextSequence: sequence });
  // Both runs need every token they ask for: a model may end its text at once.
  const tokenBias = endTokensNever(lib, model);
  const prompt = model.tokenize(PROMPT);
  // The prompt is evaluated before timing starts: only decoding is compared.
  const generated: number[] = [];
  let first: number | null = null;
  let last = 0;
  await completion.generateCompletion(prompt, {
    maxTokens: tokens,
    temperature: 0,
    grammar,
    tokenBias,
    onToken: t => {
      const now = performance.now();
      first ??= now;
      last = now;
      generated.push(...t);
    }
  });
  completion.dispose({ disposeSequence: false });
  return { msPerToken: (last - (first ?? last)) / Math.max(1, generated.length - 1), generated };
}

/** Tokens of `generated` that the unconstrained greedy pick would not have chosen, given the same prefix. */
async function countCorrected(
  lib: LlamaModule,
  model: LlamaModel,
  sequence: import('node-llama-cpp', { with: { 'resolution-mode': 'import' } }).LlamaContextSequence,
  generated: number[]
): Promise<number> {
  await sequence.clearHistory();
  const prompt = model.tokenize(PROMPT);
  const tokenBias = endTokensNever(lib, model);
  // One evaluation of prompt + generated text, asking for the unconstrained greedy pick after every position.
  const all = [...prompt, ...generated];
  const firstAsked = prompt.length - 1;
  const items = all.map((token, i) =>
    i >= firstAsked && i < firstAsked + generated.length ? ([token, { generateNext: { token: true, options: { temperature: 0, tokenBias } } }] as const) : token
  );
  const results = await sequence.controlledEvaluate(items as any);
  let corrected = 0;
  for (let i = 0; i < generated.length; i++) {
    const pick = results[firstAsked + i]?.next?.token;
    if (pick !== undefined && pick !== generated[i]) {
      corrected++;
    }
  }
  return corrected;
}

function endTokensNever(lib: LlamaModule, model: LlamaModel) {
  const tokenBias = new lib.TokenBias(model.tokenizer);
  for (const end of [model.tokens.eos, model.tokens.eot]) {
    if (end !== null) {
      tokenBias.set(end, 'never');
    }
  }
  return tokenBias;
}

export async function measureGrammarOverhead(lib: LlamaModule, model: LlamaModel, options: { tokens?: number; rounds?: number; threads?: number } = {}): Promise<GrammarOverhead> {
  const tokens = options.tokens ?? 64;
  const rounds = options.rounds ?? 5;
  const threads = options.threads ?? 1;
  const context = await model.createContext({ contextSize: 1024, threads: { ideal: threads, min: threads }, flashAttention: true });
  try {
    const sequence = context.getSequence();
    const grammar = await model.llama.createGrammar({ grammar: DATARUS_AGENTIC_GRAMMAR });
    await timedRun(lib, model, sequence, 4, undefined); // warm-up: one-off costs
    await timedRun(lib, model, sequence, 4, grammar);
    const withGrammar: number[] = [];
    const without: number[] = [];
    let generated: number[] = [];
    for (let round = 0; round < rounds; round++) {
      without.push((await timedRun(lib, model, sequence, tokens, undefined)).msPerToken);
      const run = await timedRun(lib, model, sequence, tokens, grammar);
      withGrammar.push(run.msPerToken);
      generated = run.generated;
    }
    const medianWith = median(withGrammar);
    const medianWithout = median(without);
    const corrected = await countCorrected(lib, model, sequence, generated);
    return {
      'host.grammar_overhead': medianWith / medianWithout,
      msPerToken: { withGrammar: medianWith, without: medianWithout },
      tokensPerRun: tokens,
      rounds,
      vocabulary: (model.fileInfo.metadata.tokenizer?.ggml?.tokens as unknown[] | undefined)?.length ?? 0,
      correctedTokens: corrected,
      msPerCorrectedToken: corrected > 0 ? ((medianWith - medianWithout) * (tokens - 1)) / corrected : null,
      threads
    };
  } finally {
    await context.dispose();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The models `host.grammar_overhead` is published for: the starter and a 152,064-token vocabulary. */
export const GRAMMAR_MODELS = [
  { label: 'starter: Gemma 3 270M Q4_K_M', file: 'gemma-3-270m-q4_k_m.gguf' },
  { label: '2-layer random qwen2, 152,064-token vocabulary', file: 'shape-2l-152k.gguf', write: ['--layers', '2', '--embd', '512', '--ff', '1536', '--vocab', '152064'] }
];

export interface GrammarBench {
  date: string;
  models: (GrammarOverhead & { model: string; file: string })[];
  skipped: string[];
}

/** Measures every model of GRAMMAR_MODELS that is present (writing the generated one first). */
export async function benchGrammar(lib: LlamaModule, modelsDir: string, writeModel: (file: string, args: string[]) => void): Promise<GrammarBench> {
  const llama = await lib.getLlama({ gpu: false, build: 'never' });
  const models: GrammarBench['models'] = [];
  const skipped: string[] = [];
  for (const spec of GRAMMAR_MODELS) {
    const file = `${modelsDir}/${spec.file}`;
    if (spec.write) {
      writeModel(file, spec.write);
    }
    const present = await import('node:fs').then(fs => fs.existsSync(file));
    if (!present) {
      skipped.push(`${spec.label}: ${spec.file} is not in ${modelsDir}`);
      continue;
    }
    process.stderr.write(`grammar overhead: ${spec.label}…\n`);
    const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    try {
      models.push({ model: spec.label, file: spec.file, ...(await measureGrammarOverhead(lib, model)) });
    } finally {
      await model.dispose();
    }
  }
  return { date: new Date().toISOString(), models, skipped };
}

export function grammarMarkdown(bench: GrammarBench): string {
  const f = (n: number | null, d = 2) => (n === null ? '–' : n.toFixed(d));
  return [
    '## Constrained decoding: `host.grammar_overhead`',
    '',
    `Measured ${bench.date} on the CPU (1 thread), in-process, same model and context, ${bench.models[0]?.rounds ?? 3} interleaved rounds, median; ` +
      'greedy decoding of the same prompt with the `datarus` protocol grammar and without. Goal ≤ 1.10.',
    '',
    '| model | vocabulary | `host.grammar_overhead` | ms/token with / without | tokens the grammar corrected | ms per corrected token |',
    '|---|---|---|---|---|---|',
    ...bench.models.map(
      m =>
        `| ${m.model} | ${m.vocabulary.toLocaleString('en-US')} | **${f(m['host.grammar_overhead'])}** | ${f(m.msPerToken.withGrammar, 1)} / ${f(m.msPerToken.without, 1)} | ${m.correctedTokens} of ${m.tokensPerRun} | ${f(m.msPerCorrectedToken, 0)} |`
    ),
    ...bench.skipped.map(s => `| ${s} | | not measured | | | |`),
    '',
    "Why: node-llama-cpp 3.21.1 already samples as llama.cpp's own sampler does (`llama/addon/AddonSampler.cpp`):",
    'it samples without the grammar, checks that one token against it, and only when the grammar refuses it',
    "runs the grammar over the whole vocabulary and samples again. An accepted token costs one check; a refused one",
    'costs a pass over every vocabulary entry (the last column). So the overhead is the share of tokens the model gets',
    "wrong × the vocabulary pass. A random or untrained model refuses the protocol's fixed text (`<step>\\n<thought>`,",
    '`</thought>\\n<action>python_executor</action>…`) token by token; a model trained on the protocol (Datarus-R1)',
    'writes that text itself and should pay little (not measured: the model is not available here). The public API offers',
    'no lever on the refused path: top-k, token bias and the rest of the sampler chain run *after* the grammar there, and',
    'checking a token against a grammar state is a private method, so a custom loop cannot pre-filter candidates either.',
    'What would bring it down without patching the addon: fast-forwarding the',
    "protocol's fixed text (evaluate its tokens as prompt instead of sampling them under the grammar), which needs",
    "generation in segments in the host's generator; not done yet."
  ].join('\n');
}
