/**
 * `host.grammar_overhead`: milliseconds a token of a `datarus` turn as the host
 * decodes it (in segments, src/host/protocolDecoder.ts) ÷ without any
 * constraint, same model, same context, same run, interleaved rounds. The
 * protocol grammar run whole by node-llama-cpp is measured alongside
 * (`fullGrammarOverhead`): what the segments save.
 *
 * node-llama-cpp 3.21.1 samples the way llama.cpp's own sampler does
 * (llama/addon/AddonSampler.cpp): it samples without the grammar, checks that
 * one token against it, and masks the whole vocabulary only when it is
 * rejected. So the cost is paid per *rejected* token, each one costing a pass of
 * the grammar over every vocabulary entry; accepted tokens cost one check.
 * This measurement also counts how many tokens the grammar had to correct.
 */
import * as os from 'node:os';

import type { LlamaModel } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import { DATARUS_AGENTIC_GRAMMAR } from '../host/grammar';
import { decodeProtocolTurn, FIRST_CHARACTERS_GRAMMAR } from '../host/protocolDecoder';

type LlamaModule = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });

export interface GrammarOverhead {
  /** Segmented decoding (what the host does for `grammar: 'datarus'`) ÷ unconstrained. */
  'host.grammar_overhead': number;
  /** Segmented, its whole time spread over the sampled tokens only (fixed text counted as free) ÷ unconstrained: the strict reading. */
  overheadPerSampledToken: number;
  /** The whole protocol grammar under node-llama-cpp's sampler ÷ unconstrained. */
  fullGrammarOverhead: number;
  msPerToken: { segmented: number; withGrammar: number; without: number };
  /** Of a segmented turn's tokens, how many were sampled and how many were fixed text, evaluated (last round). */
  segmentedTokens: { sampled: number; fixed: number };
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

/** A `datarus` turn decoded in segments, as the host does: ms per token of the turn, sampled or fixed. */
async function timedSegmentedRun(
  lib: LlamaModule,
  model: LlamaModel,
  sequence: import('node-llama-cpp', { with: { 'resolution-mode': 'import' } }).LlamaContextSequence,
  tokens: number,
  firstCharactersGrammar: import('node-llama-cpp', { with: { 'resolution-mode': 'import' } }).LlamaGrammar
): Promise<{ msPerToken: number; msPerSampledToken: number; tokens: number; sampled: number }> {
  await sequence.clearHistory();
  let first: number | null = null;
  let sampled = 0;
  const turn = await decodeProtocolTurn(lib, model, sequence, model.tokenize(PROMPT), {
    maxTokens: tokens,
    temperature: 0,
    stop: [],
    signal: new AbortController().signal,
    firstCharactersGrammar,
    onText: () => undefined,
    onToken: t => {
      first ??= performance.now();
      sampled += t.length;
    }
  });
  const last = performance.now();
  const elapsed = last - (first ?? last);
  return { msPerToken: elapsed / Math.max(1, turn.completionTokens - 1), msPerSampledToken: elapsed / Math.max(1, sampled - 1), tokens: turn.completionTokens, sampled };
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
    const segmentGrammar = await model.llama.createGrammar({ grammar: FIRST_CHARACTERS_GRAMMAR });
    await timedSegmentedRun(lib, model, sequence, 4, segmentGrammar);
    const withGrammar: number[] = [];
    const without: number[] = [];
    const segmented: number[] = [];
    const segmentedSampled: number[] = [];
    let generated: number[] = [];
    let segmentedTokens = { sampled: 0, fixed: 0 };
    for (let round = 0; round < rounds; round++) {
      without.push((await timedRun(lib, model, sequence, tokens, undefined)).msPerToken);
      const run = await timedRun(lib, model, sequence, tokens, grammar);
      withGrammar.push(run.msPerToken);
      generated = run.generated;
      const turn = await timedSegmentedRun(lib, model, sequence, tokens, segmentGrammar);
      segmented.push(turn.msPerToken);
      segmentedSampled.push(turn.msPerSampledToken);
      segmentedTokens = { sampled: turn.sampled, fixed: turn.tokens - turn.sampled };
    }
    const medianWith = median(withGrammar);
    const medianWithout = median(without);
    const medianSegmented = median(segmented);
    const corrected = await countCorrected(lib, model, sequence, generated);
    return {
      'host.grammar_overhead': medianSegmented / medianWithout,
      fullGrammarOverhead: medianWith / medianWithout,
      overheadPerSampledToken: median(segmentedSampled) / medianWithout,
      msPerToken: { segmented: medianSegmented, withGrammar: medianWith, without: medianWithout },
      segmentedTokens,
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
  const load = os.loadavg().map(l => l.toFixed(1)).join(' / ');
  return [
    '## Constrained decoding: `host.grammar_overhead`',
    '',
    `Measured ${bench.date} on the CPU (1 thread), in-process, same model and context, ${bench.models[0]?.rounds ?? 3} interleaved rounds, median; ` +
      `greedy decoding of the same prompt, ${bench.models[0]?.tokensPerRun ?? 64} tokens a run, three ways: unconstrained; a \`datarus\` turn as the host decodes it ` +
      '(in segments, `src/host/protocolDecoder.ts`); the whole protocol grammar under node-llama-cpp\'s sampler (the former path). ' +
      `\`host.grammar_overhead\` = segmented ÷ unconstrained, ms per token of output. Goal ≤ 1.10. The machine is shared: load average ${load} (1/5/15 min) when the run ended, on ${os.cpus().length} cores.`,
    '',
    '| model | vocabulary | `host.grammar_overhead` (segmented) | segmented, per sampled token only | whole grammar ÷ unconstrained | ms/token segmented / whole grammar / unconstrained | segmented turn: tokens sampled + fixed | tokens the whole grammar corrected | ms per corrected token |',
    '|---|---|---|---|---|---|---|---|---|',
    ...bench.models.map(
      m =>
        `| ${m.model} | ${m.vocabulary.toLocaleString('en-US')} | **${f(m['host.grammar_overhead'])}** | ${f(m.overheadPerSampledToken)} | ${f(m.fullGrammarOverhead)} | ${f(m.msPerToken.segmented, 1)} / ${f(m.msPerToken.withGrammar, 1)} / ${f(m.msPerToken.without, 1)} | ${m.segmentedTokens.sampled} + ${m.segmentedTokens.fixed} | ${m.correctedTokens} of ${m.tokensPerRun} | ${f(m.msPerCorrectedToken, 0)} |`
    ),
    ...bench.skipped.map(s => `| ${s} | | not measured | | | | | | |`),
    '',
    "Why the whole grammar costs: node-llama-cpp 3.21.1 samples as llama.cpp's own sampler does (`llama/addon/AddonSampler.cpp`):",
    'it samples without the grammar, checks that one token against it, and only when the grammar refuses it runs the',
    'grammar over the whole vocabulary and samples again; a refused token costs a pass over every vocabulary entry (the',
    "last column). A model not trained on the protocol refuses its fixed text (`<step>\\n<thought>`, …) token by token.",
    "What the host does instead for `grammar: 'datarus'`: it appends the protocol's fixed text as prompt tokens (evaluated",
    'in one batch, never sampled) and samples only the free parts, ended by stop strings (`<` in text, `</` in code); the',
    'model still picks `<step>` or `<stop_analysis>`, token by token, with a large logit bias on those words\' tokens (their',
    'ratio to each other is kept, nothing else has a chance, no grammar pass), and a free part that would be',
    'empty gets its first token under `[^<]+`. Fixed tokens count as output tokens (they are text of the turn), and they are',
    'cheaper than sampled ones, so a turn with more fixed text shows a lower ratio; the column "per sampled token only"',
    'spreads the whole segmented time over the sampled tokens alone, as if the fixed text were free output, the strict bound. A',
    'model trained on the protocol (Datarus-R1, not available here) writes the fixed text itself and should pay little either way.'
  ].join('\n');
}
