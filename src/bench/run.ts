/**
 * `npm run bench`: measures the model host side by side with in-process
 * node-llama-cpp, in one run, and writes benchmarks/results.json and
 * BENCHMARKS.md. Ratios compare numbers taken in the same run on the same
 * machine; nothing here is asserted by tests.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LlamaModel } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

import { formatObservation, formatStep } from '../protocol';
import { measureDecode, measureThreads, tokensForBudget } from '../host/backend/threads';
import { benchAgent } from './agent';
import { benchGpu } from './gpu';
import { benchGrammar, grammarMarkdown } from './grammar';
import { MODELS_DIR as GENERATED_MODELS_DIR, writeShapeModel } from './shapeModel';
import { readResults, readSections, section } from './report';
import { agentPathMarkdown, AgentPathBench, benchAgentPath } from './agentPath';
import { benchClickToFirstCell, benchNotebookSide, NotebookSideBench } from './ui';
import { BenchHost, startBenchHost } from './processes';
import { streamGenerate } from './util';

type LlamaModule = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });

const ROOT = path.resolve(__dirname, '..', '..');
const MODELS = path.join(ROOT, 'models', 'cache');
const STREAM_TOKENS = 96;
const REPEATS = 3;

interface BenchModel {
  name: string;
  file: string;
  label: string;
}

const BENCH_MODELS: BenchModel[] = [
  { name: 'datarus-test-tiny', file: 'datarus-test-tiny.gguf', label: 'fixture (0.1M params, F32)' },
  { name: 'datarus-test-bench-25m.gguf', file: 'datarus-test-bench-25m.gguf', label: 'generated llama (~25M params, F32)' },
  { name: 'gemma-3-270m', file: 'gemma-3-270m-q4_k_m.gguf', label: 'fallback: Gemma 3 270M Q4_K_M' }
];

/** A grammar that never completes: generation runs to maxTokens, so both sides produce the same count. */
const ENDLESS = 'root ::= [a-z ] root';

type HostHandle = BenchHost;

/** The host with `model`, two episode slots, and `threads` when given (else the host measures them). */
const startHost = (model: string, threads: number | null): Promise<HostHandle> =>
  startBenchHost(model, ['--max-episodes', '2', ...(threads ? ['--threads', String(threads)] : [])]);

async function api(host: HostHandle, method: string, endpoint: string, body?: unknown): Promise<any> {
  const response = await fetch(`${host.url}${endpoint}`, {
    method,
    headers: { Authorization: `Bearer ${host.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  return response.json();
}

interface Timed {
  tokens: number;
  tokensPerSecond: number;
  firstTokenMs: number;
  result?: any;
}

/** Streams a generation through the host's HTTP API, timing chunks as the client sees them. */
async function streamThroughHost(host: HostHandle, body: object): Promise<Timed> {
  const { tokens, tokensPerSecond, firstMs, done } = await streamGenerate(host, body);
  return { tokens, tokensPerSecond, firstTokenMs: firstMs, result: done };
}

/** The same generation in-process, timing tokens as node-llama-cpp hands them out. */
async function generateInProcess(
  lib: LlamaModule,
  model: LlamaModel,
  threads: number,
  contextSize: number,
  prompt: string,
  maxTokens: number,
  grammarText: string | null = ENDLESS
): Promise<Timed> {
  // The same context the host makes (src/host/generation/generator.ts), so only the transport differs.
  const context = await model.createContext({ contextSize, sequences: 2, flashAttention: true, threads });
  try {
    const grammar = grammarText === null ? undefined : await model.llama.createGrammar({ grammar: grammarText });
    const completion = new lib.LlamaCompletion({ contextSequence: context.getSequence() });
    const started = performance.now();
    let first: number | null = null;
    let last = 0;
    let tokens = 0;
    await completion.generateCompletion(prompt, {
      maxTokens,
      temperature: 0,
      grammar,
      onTextChunk: () => {
        const now = performance.now();
        first ??= now;
        last = now;
      },
      onToken: t => {
        tokens += t.length;
      }
    });
    return { tokens, tokensPerSecond: ((tokens - 1) * 1000) / Math.max(1e-6, last - (first ?? last)), firstTokenMs: (first ?? last) - started };
  } finally {
    await context.dispose();
  }
}

/**
 * Streams without a grammar, the product's default: greedy decoding on both sides gives the same tokens, so
 * both count the same number (checked); with the end-of-generation token the count may be under the budget.
 */
async function streamWithoutGrammar(lib: LlamaModule, model: LlamaModel, host: HostHandle, threads: number, contextSize: number) {
  const prompt = 'Q: describe the data\nA:';
  const viaHost: Timed[] = [];
  const inProcess: Timed[] = [];
  for (let i = 0; i < REPEATS; i++) {
    inProcess.push(await generateInProcess(lib, model, threads, contextSize, prompt, STREAM_TOKENS, null));
    viaHost.push(await streamThroughHost(host, { prompt, maxTokens: STREAM_TOKENS, temperature: 0 }));
  }
  const tokens = { host: viaHost.map(t => t.tokens), inProcess: inProcess.map(t => t.tokens) };
  const sameCount = [...tokens.host, ...tokens.inProcess].every(n => n === tokens.host[0]);
  const hostRate = median(viaHost.map(t => t.tokensPerSecond));
  const inProcessRate = median(inProcess.map(t => t.tokensPerSecond));
  return { ratio: sameCount && tokens.host[0] > 8 ? hostRate / inProcessRate : null, tokens, host: hostRate, inProcess: inProcessRate };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Ten agentic steps through the host: tokens evaluated vs the final context, and the naive re-send figure. */
async function prefillEpisode(
  host: HostHandle
): Promise<{ evaluated: number; finalContext: number; naive: number; ttftNewStepMs: number; ttftLastStepMs: number; ttftFreshMs: number }> {
  const episodeId = `bench-${randomBytes(4).toString('hex')}`;
  const messages: { role: string; content: string }[] = [
    { role: 'system', content: 'You are Datarus, a data analyst. Answer with <step> blocks.' },
    { role: 'user', content: 'What is the mean of column x in df?' }
  ];
  let evaluated = 0;
  let naive = 0;
  let finalContext = 0;
  const ttft: number[] = [];
  let lastGrammar = '';
  for (let i = 0; i < 10; i++) {
    const step = formatStep({ thought: `Step ${i}: look at x.`, code: `print(df.x.iloc[${i}])` });
    lastGrammar = `root ::= ${JSON.stringify(step)}`;
    const timed = await streamThroughHost(host, {
      episodeId,
      messages,
      grammar: lastGrammar,
      stop: ['</step>'],
      maxTokens: 200
    });
    const done = timed.result;
    // Every token of the final context must be evaluated once: prompt tokens the cache lacked, plus
    // the generated ones. A perfect cache gives exactly 1.0; re-sending everything gives `naive`.
    evaluated += done.usage.evaluatedPromptTokens + done.usage.completionTokens;
    naive += done.usage.promptTokens + done.usage.completionTokens;
    finalContext = done.usage.promptTokens + done.usage.completionTokens;
    if (i > 0) {
      ttft.push(timed.firstTokenMs);
    }
    messages.push({ role: 'assistant', content: done.text + (done.stopString ?? '') });
    messages.push({ role: 'user', content: `${formatObservation(String(i * 1.5))}\nContinue with the analysis.` });
  }
  // The same last request (same prompt, same grammar) in a fresh episode: what it costs without the cache.
  const fresh = await streamThroughHost(host, {
    episodeId: `${episodeId}-fresh`,
    messages: messages.slice(0, -2),
    grammar: lastGrammar,
    stop: ['</step>'],
    maxTokens: 200
  });
  await api(host, 'DELETE', `/api/episodes/${episodeId}`);
  await api(host, 'DELETE', `/api/episodes/${episodeId}-fresh`);
  // Like with like: the cached time of the last step, whose prompt the fresh episode repeats.
  return { evaluated, finalContext, naive, ttftNewStepMs: median(ttft), ttftLastStepMs: ttft[ttft.length - 1], ttftFreshMs: fresh.firstTokenMs };
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

async function benchModel(lib: LlamaModule, spec: BenchModel, cores: number) {
  const llama = await lib.getLlama({ gpu: false, build: 'never' });
  const model = await llama.loadModel({ modelPath: path.join(MODELS, spec.file) });
  // Threads: every count from 1 to the cores (five interleaved rounds, about 2 s of decoding each),
  // and node-llama-cpp's own default.
  const decodeTokens = await tokensForBudget(lib, model, 2000);
  const perThreads = await measureThreads(lib, model, cores, decodeTokens, 5);
  const best = perThreads.reduce((a, b) => (b.tokensPerSecond > a.tokensPerSecond ? b : a));
  const libDefaultContext = await model.createContext({ contextSize: 256 });
  const libDefaultThreads = libDefaultContext.currentThreads;
  await libDefaultContext.dispose();
  // node-llama-cpp's default gets the same token budget as every other count.
  const libDefault = await measureDecode(lib, model, null, decodeTokens);

  // The host chooses its threads itself (measured at load): what did it choose?
  const host = await startHost(spec.name, null);
  const status = await api(host, 'GET', '/api/status');
  const hostThreads = status.threads as number;
  const hostChoice = perThreads.find(p => p.threads === hostThreads)!;
  const rss = rssBytes(host.proc.pid!);

  // Streaming through the host vs in-process, same model and threads, interleaved runs: with a grammar that
  // never completes, and without one (the product's default), greedy so both sides produce the same tokens.
  const viaHost: number[] = [];
  const inProcess: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    inProcess.push((await generateInProcess(lib, model, hostThreads, status.contextSize, 'Q: describe the data\nA:', STREAM_TOKENS)).tokensPerSecond);
    viaHost.push(
      (await streamThroughHost(host, { prompt: 'Q: describe the data\nA:', grammar: ENDLESS, maxTokens: STREAM_TOKENS, temperature: 0 })).tokensPerSecond
    );
  }
  const plain = await streamWithoutGrammar(lib, model, host, hostThreads, status.contextSize);
  const prefill = await prefillEpisode(host);
  const rssAfterEpisode = rssBytes(host.proc.pid!);
  await host.stop();
  // The host's thread choice against the best count of a separate, later measurement.
  const later = await measureThreads(lib, model, cores, decodeTokens, 3);
  const laterBest = later.reduce((a, b) => (b.tokensPerSecond > a.tokensPerSecond ? b : a));
  const laterChoice = later.find(p => p.threads === hostThreads);
  await model.dispose();
  await llama.dispose();

  return {
    model: spec.label,
    file: spec.file,
    threads: {
      measured: perThreads,
      best: best.threads,
      hostChoice: hostThreads,
      hostChosenBy: status.threadsChosenBy,
      nodeLlamaCppDefault: { threads: libDefaultThreads, tokensPerSecond: libDefault }
    },
    'host.threads_default_vs_best': hostChoice.tokensPerSecond / best.tokensPerSecond,
    'llamacpp.default_threads_vs_best': libDefault / best.tokensPerSecond,
    'host.threads_choice_vs_later_best': laterChoice ? laterChoice.tokensPerSecond / laterBest.tokensPerSecond : null,
    threadsLater: { measured: later, best: laterBest.threads },
    'host.stream_vs_inprocess': plain.ratio,
    streamNoGrammar: plain,
    'host.stream_vs_inprocess_grammar': median(viaHost) / median(inProcess),
    streamTokensPerSecond: { host: median(viaHost), inProcess: median(inProcess), runs: { host: viaHost, inProcess } },
    'host.prefill_ratio': prefill.evaluated / prefill.finalContext,
    'host.prefill_ratio_naive': prefill.naive / prefill.finalContext,
    prefill,
    'host.ttft_new_step_ms': prefill.ttftNewStepMs,
    'host.ttft_last_step_ms': prefill.ttftLastStepMs,
    'host.ttft_fresh_same_prompt_ms': prefill.ttftFreshMs,
    'host.rss_mb': rss / 2 ** 20,
    'host.rss_after_episode_mb': rssAfterEpisode / 2 ** 20,
    chatWrapper: status.chatWrapper
  };
}

function ensureBenchModel(): void {
  if (!existsSync(path.join(MODELS, 'datarus-test-bench-25m.gguf'))) {
    execFileSync(path.join(ROOT, '.venv', 'bin', 'python'), ['models/make_fixture.py', '--size', 'bench-25m'], { cwd: ROOT, stdio: 'inherit' });
  }
}

function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}

function markdown(results: any): string {
  const rows = results.models as any[];
  const lines = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` on ${results.date}: ${results.machine.cpu}, ${results.machine.cores} cores, ` +
      `${results.machine.memoryGiB} GiB, Node ${results.machine.node}, node-llama-cpp ${results.machine.nodeLlamaCpp}, CPU backend. ` +
      'Every ratio compares numbers measured side by side in this one run. Machine-readable: `benchmarks/results.json`.',
    '',
    `Load average (1/5/15 min) at the start: ${results.machine.loadAverage.start.map((n: number) => n.toFixed(2)).join(' / ')}; at the end: ` +
      `${results.machine.loadAverage.end.map((n: number) => n.toFixed(2)).join(' / ')}. This machine is shared: absolute times are inflated and noisy, ` +
      'the ratios of figures measured side by side are what count.',
    ...(results.runsNote ? ['', results.runsNote] : []),
    ...(results.notMeasured?.length
      ? ['', `Not measured in this run (it named only some models): ${results.notMeasured.join('; ')}. Their last figures are in this file's git history.`]
      : []),
    '',
    '| metric | goal | ' + rows.map(r => r.model).join(' | ') + ' |',
    '|---|---|' + rows.map(() => '---|').join(''),
    `| \`host.stream_vs_inprocess\` (tokens/s via HTTP stream ÷ in-process, no grammar: the product's default) | ≥ 0.97 | ${rows.map(r => (r['host.stream_vs_inprocess'] === null ? `not comparable: token counts ${r.streamNoGrammar.tokens.host}/${r.streamNoGrammar.tokens.inProcess}` : fmt(r['host.stream_vs_inprocess']))).join(' | ')} |`,
    `| tokens/s without grammar: host stream / in-process (median of ${REPEATS}; tokens each) | | ${rows.map(r => `${fmt(r.streamNoGrammar.host, 1)} / ${fmt(r.streamNoGrammar.inProcess, 1)} (${r.streamNoGrammar.tokens.host[0]})`).join(' | ')} |`,
    `| \`host.stream_vs_inprocess_grammar\` (same, with a grammar that never completes) | ≥ 0.97 | ${rows.map(r => fmt(r['host.stream_vs_inprocess_grammar'])).join(' | ')} |`,
    `| tokens/s with the grammar: host stream / in-process (median of ${REPEATS}) | | ${rows.map(r => `${fmt(r.streamTokensPerSecond.host, 1)} / ${fmt(r.streamTokensPerSecond.inProcess, 1)}`).join(' | ')} |`,
    `| \`host.prefill_ratio\` (tokens evaluated ÷ final context, 10 steps) | ≤ 1.05 | ${rows.map(r => fmt(r['host.prefill_ratio'], 3)).join(' | ')} |`,
    `| naive re-send-everything ratio | | ${rows.map(r => fmt(r['host.prefill_ratio_naive'], 2)).join(' | ')} |`,
    `| \`host.threads_choice_vs_later_best\` (host's choice ÷ best count, in a separate later measurement) | ≥ 0.9 | ${rows.map(r => fmt(r['host.threads_choice_vs_later_best'])).join(' | ')} |`,
    `| \`host.threads_default_vs_best\` (same, in this run's own measurement: the selection rule keeps ≥ 0.9 by construction) | | ${rows.map(r => fmt(r['host.threads_default_vs_best'])).join(' | ')} |`,
    `| threads: host's choice / best | | ${rows.map(r => `${r.threads.hostChoice} (${r.threads.hostChosenBy}) / ${r.threads.best}`).join(' | ')} |`,
    `| node-llama-cpp's own default ÷ best (same token budget) | | ${rows.map(r => `${fmt(r['llamacpp.default_threads_vs_best'], 3)} (${r.threads.nodeLlamaCppDefault.threads} threads)`).join(' | ')} |`,
    `| time to first token, new step of an episode (median of steps 2–10, ms) | | ${rows.map(r => fmt(r['host.ttft_new_step_ms'], 1)).join(' | ')} |`,
    `| time to first token, last step (cached) / the same prompt and grammar in a fresh episode (ms) | | ${rows.map(r => `${fmt(r['host.ttft_last_step_ms'], 1)} / ${fmt(r['host.ttft_fresh_same_prompt_ms'], 1)}`).join(' | ')} |`,
    `| host resident memory: model loaded, before any request / after the 10-step episode (MiB) | | ${rows.map(r => `${fmt(r['host.rss_mb'], 0)} / ${fmt(r['host.rss_after_episode_mb'], 0)}`).join(' | ')} |`,
    '',
    'Decode tokens/s by thread count (in-process):',
    '',
    '| model | ' + Array.from({ length: results.machine.cores }, (_, i) => `${i + 1} thread${i ? 's' : ''}`).join(' | ') + ' | node-llama-cpp default |',
    '|---|' + Array.from({ length: results.machine.cores + 1 }, () => '---|').join(''),
    ...rows.map(
      r =>
        `| ${r.model} | ${r.threads.measured.map((m: any) => fmt(m.tokensPerSecond, 1)).join(' | ')} | ${fmt(r.threads.nodeLlamaCppDefault.tokensPerSecond, 2)} (${r.threads.nodeLlamaCppDefault.threads} threads) |`
    ),
    '',
    'How each is measured: `src/bench/run.ts`. Without a grammar both sides decode greedily from the same prompt, so they',
    `produce the same tokens (the counts are checked; up to ${STREAM_TOKENS}); the grammar one never completes, so both produce exactly`,
    `${STREAM_TOKENS}. Tokens/s counts from the first to the last token as the client sees them. On the fixture (hundreds`,
    'to thousands of tokens/s) the whole stream lasts tens of milliseconds and how chunks are grouped on their way to the',
    'client decides its ratios, so they say little either way; the larger models are the meaningful stream figures.',
    'The prefill episode forces ten short steps with a grammar, each followed by an observation turn, through the',
    "host's chat endpoint with one episode id; evaluated tokens come from node-llama-cpp's `tokenMeter`.",
    ''
  ];
  if (results.agent) {
    lines.push(...results.agent.markdown);
  }
  if (results.agentPath?.length) {
    lines.push(...agentPathMarkdown(results.agentPath, results.notebookSide));
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (process.argv.includes('--gpu')) {
    // `npm run bench -- --gpu cuda …`: the GPU benchmark, on its own (src/bench/gpu.ts).
    await benchGpu(process.argv.slice(2));
    return;
  }
  if (process.argv[2] === '--render') {
    // Rewrites BENCHMARKS.md from benchmarks/results.json (after a change of wording), measuring nothing.
    const saved = JSON.parse(readFileSync(path.join(ROOT, 'benchmarks', 'results.json'), 'utf8'));
    writeFileSync(path.join(ROOT, 'BENCHMARKS.md'), [markdown(saved).trimEnd(), ...readSections().values()].join('\n\n') + '\n');
    return;
  }
  const loadAtStart = os.loadavg();
  ensureBenchModel();
  const lib = await import('node-llama-cpp');
  const cores = os.availableParallelism();
  const only = process.argv.slice(2);
  const models = [];
  const notMeasured: string[] = [];
  for (const spec of BENCH_MODELS) {
    if (only.length && !only.includes(spec.name)) {
      notMeasured.push(spec.label);
      continue;
    }
    if (!existsSync(path.join(MODELS, spec.file))) {
      process.stderr.write(`skipping ${spec.name}: ${spec.file} is not in models/cache (run scripts/setup.sh)\n`);
      continue;
    }
    process.stderr.write(`benchmarking ${spec.label}…\n`);
    models.push(await benchModel(lib, spec, cores));
  }
  let agent: Awaited<ReturnType<typeof benchAgent>> | null = null;
  if (only.length === 0 || only.includes('agent')) {
    process.stderr.write('benchmarking the agent loop…\n');
    agent = await benchAgent();
    process.stderr.write('benchmarking click to first cell in Chromium…\n');
    const ui = await benchClickToFirstCell();
    const value = ui['agent.click_to_first_cell_ms'];
    (agent as any)['agent.click_to_first_cell_ms'] = value;
    (agent as any).clickRuns = ui.runs;
    agent.markdown = agent.markdown.map(line =>
      line.startsWith('| `agent.click_to_first_cell_ms`')
        ? `| \`agent.click_to_first_cell_ms\` (click on Analyze → first cell in the notebook, Chromium, median of ${ui.runs.length}) | | ${value === null ? `not measured: ${ui.note}` : `${value.toFixed(0)} ms`} |`
        : line
    );
  }
  let grammar = null;
  if (only.length === 0 || only.includes('grammar')) {
    grammar = await benchGrammar(lib, GENERATED_MODELS_DIR, writeShapeModel);
  }
  // Parts measured by their own scripts (the GPU run) are kept, not dropped, when this run rewrites the files.
  const previous = readResults();
  const sections = readSections();
  const agentPath: AgentPathBench[] = [];
  let notebookSide: NotebookSideBench | null = null;
  if (only.length === 0 || only.includes('agent-path')) {
    process.stderr.write('benchmarking the notebook side of a step in Chromium…\n');
    notebookSide = await benchNotebookSide(25);
    for (const [name, file, label] of [
      ['datarus-test-tiny', 'datarus-test-tiny.gguf', 'fixture (byte-level vocabulary)'],
      ['gemma-3-270m', 'gemma-3-270m-q4_k_m.gguf', 'Gemma 3 270M (real tokenizer)']
    ]) {
      if (existsSync(path.join(MODELS, file))) {
        process.stderr.write(`benchmarking the agent on the product path with ${label}…\n`);
        agentPath.push(await benchAgentPath(name, label));
      }
    }
  }
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8'));
  const results = {
    date: new Date().toISOString(),
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.versions.node,
      nodeLlamaCpp: pkg.version,
      loadAverage: { start: loadAtStart, end: os.loadavg() }
    },
    models,
    agent,
    grammar: grammar ?? previous.grammar ?? null,
    gpu: previous.gpu ?? null,
    agentPath,
    notebookSide,
    notMeasured,
    // The starter benchmark (`npm run bench:starter`) runs apart, for minutes per model.
    starter: previous.starter ?? null
  };
  if (grammar) {
    sections.set('grammar', section('grammar', grammarMarkdown(grammar)));
  }
  const text = [markdown(results).trimEnd(), ...sections.values()].join('\n\n') + '\n';
  mkdirSync(path.join(ROOT, 'benchmarks'), { recursive: true });
  writeFileSync(path.join(ROOT, 'benchmarks', 'results.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(path.join(ROOT, 'BENCHMARKS.md'), text);
  process.stdout.write(text);
}


main().catch(err => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
