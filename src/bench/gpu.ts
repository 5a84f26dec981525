/**
 * `npm run bench:gpu -- --gpu cuda|cuda12|vulkan|metal` (or `npm run bench -- --gpu …`):
 * the model host on a GPU with a model of Datarus-R1-14B's shape, written by
 * models/make_shape_model.py. One run, the GPU and the backend named in the output:
 *
 * - in-process (`inprocess`): decode tokens/s without a grammar, a 4,000-token prefill, and
 *   1, 4 and 8 sequences of one context decoding at once, their decode steps together (as the
 *   host takes them, src/host/generation/decodeSteps.ts) and apart (node-llama-cpp's batching alone), with
 *   the tokens per batch node-llama-cpp decoded (read from its context: measurement only)
 * - flash attention on and off beside auto (`sweep`)
 * - through the host (`host`): decode (`gpu.stream_vs_inprocess`), 4 and 8 episodes streaming at
 *   once ÷ one (`gpu.parallel4_vs_single`, `gpu.parallel8_vs_single`), an 8-step episode's prefill
 *   ratio, time to first token of a new step vs the same prompt fresh, VRAM
 * - `gpu.decode_vs_ceiling`: decode tokens/s ÷ the bandwidth ceiling (weights bytes ÷ memory bandwidth)
 * - warm starts (`warm`) on a second host with 8 episode slots (src/bench/warmStart.ts, the datarus-r1
 *   profile): `host.ttft_fresh_vs_new_step` and `rollouts.group_prefill_ratio` (G = 8), once for each
 *   `--prompt-cache` mode given (`auto,on`: the policy beside always-on states, same machine)
 *
 * `--only inprocess,sweep,host,warm` runs only those parts. It stops at once when the backend is
 * not the one it meant to test: a 14B model on one CPU thread takes many minutes. `--gpu cpu` with a
 * small shape (`--layers 2 --embd 512 --ff 1536 --vocab 4096`) is the CPU dry run of the script; it
 * writes a section of its own (`gpu-dry-run`), never over a GPU run's.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import type { Backend } from '../contract';
import { startLlama } from '../host/backend/backends';
import { DecodeSteps } from '../host/generation/decodeSteps';
import { formatObservation, formatStep } from '../protocol';
import { MODELS_DIR, writeShapeModel } from './shapeModel';
import { BenchHost, startBenchHost } from './processes';
import { writePart } from './report';
import { streamGenerate, TimedStream } from './util';
import { benchWarmStart, policyCell, WarmStartBench } from './warmStart';

type LlamaModule = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });
const BACKENDS: Backend[] = ['cuda', 'cuda12', 'vulkan', 'metal', 'cpu'];


/** Memory bandwidth in GB/s of cards the ceiling is computed for; `--bandwidth-gbs` for others. */
const BANDWIDTH_GBS: [RegExp, number][] = [
  [/H200/i, 4800],
  [/H100.*(SXM|HBM3)|H100 80GB HBM3/i, 3350],
  [/H100.*NVL/i, 3900],
  [/H100/i, 2000], // PCIe
  [/A100.*80/i, 2039],
  [/A100/i, 1555],
  [/L40S|L40\b/i, 864],
  [/L4\b/i, 300],
  [/RTX 4090/i, 1008],
  [/RTX 3090/i, 936],
  [/A10\b|A10G/i, 600]
];

class WrongBackendError extends Error {}

type Part = 'inprocess' | 'sweep' | 'host' | 'warm';
const PARTS: Part[] = ['inprocess', 'sweep', 'host', 'warm'];
/** The parts of a full run (the flash-attention sweep is optional: it was measured on Vulkan before). */
const FULL: Part[] = ['inprocess', 'host', 'warm'];
type PromptCacheMode = 'auto' | 'on' | 'off';
/** Sequences decoding at once, in-process and through the host. */
const PARALLEL = [4, 8];

interface Options {
  gpu: Backend;
  parts: Set<Part>;
  /** The host's `--prompt-cache` modes: the warm part runs once for each. */
  promptCache: PromptCacheMode[];
  layers: number;
  embd: number;
  ff: number;
  vocab: number;
  tokens: number;
  bandwidthGbs: number | null;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      gpu: { type: 'string', default: 'cuda' },
      layers: { type: 'string', default: '48' },
      embd: { type: 'string', default: '5120' },
      ff: { type: 'string', default: '13824' },
      vocab: { type: 'string', default: '152064' },
      tokens: { type: 'string', default: '128' },
      'bandwidth-gbs': { type: 'string' },
      only: { type: 'string', default: PARTS.join(',') },
      'prompt-cache': { type: 'string', default: 'auto' }
    },
    allowPositionals: true
  });
  const gpu = values.gpu as Backend;
  if (!BACKENDS.includes(gpu)) {
    throw new Error(`--gpu must be ${BACKENDS.join(', ')} (cpu: the dry run), not "${values.gpu}"`);
  }
  const parts = values.only!.split(',').map(p => p.trim());
  const unknown = parts.filter(p => !PARTS.includes(p as Part));
  if (unknown.length > 0 || parts.length === 0) {
    throw new Error(`--only takes a comma-separated list of ${PARTS.join(', ')}, not "${values.only}"`);
  }
  const promptCache = values['prompt-cache']!.split(',').map(m => m.trim()) as PromptCacheMode[];
  if (promptCache.length === 0 || promptCache.some(m => !['auto', 'on', 'off'].includes(m))) {
    throw new Error(`--prompt-cache must be auto, on or off, or a comma-separated list of them, not "${values['prompt-cache']}"`);
  }
  const num = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`--${name} must be a positive integer`);
    }
    return n;
  };
  return {
    gpu,
    parts: new Set(parts as Part[]),
    promptCache,
    layers: num('layers', values.layers),
    embd: num('embd', values.embd),
    ff: num('ff', values.ff),
    vocab: num('vocab', values.vocab),
    tokens: num('tokens', values.tokens),
    bandwidthGbs: values['bandwidth-gbs'] ? Number(values['bandwidth-gbs']) : null
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// ---- the host ------------------------------------------------------------

async function api(host: BenchHost, method: string, endpoint: string, body?: unknown): Promise<any> {
  const response = await fetch(`${host.url}${endpoint}`, {
    method,
    headers: { Authorization: `Bearer ${host.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  return response.json();
}

/** Starts `datarus serve --gpu <backend>` and returns once the model is loaded on that backend, or throws at once. */
async function startHost(
  modelFile: string,
  backend: Backend,
  { maxEpisodes = 8, contextSize = 8192, promptCache = 'auto' }: { maxEpisodes?: number; contextSize?: number; promptCache?: PromptCacheMode } = {}
): Promise<{ host: BenchHost; status: any }> {
  const args = [
    ...['--gpu', backend, '--models-dir', path.dirname(modelFile)],
    ...['--max-episodes', String(maxEpisodes), '--context-size', String(contextSize), '--prompt-cache', promptCache]
  ];
  if (backend === 'cpu') {
    args.push('--threads', '1'); // the dry run: no calibration, the shared machine keeps a core
  }
  const host = await startBenchHost(path.basename(modelFile), args, {
    timeoutMs: 600_000,
    whileLoading: status => {
      if (status.backend && status.backend !== backend) {
        throw new WrongBackendError(`the host runs on ${status.backend}, not ${backend}: stopping (${status.backendNote ?? ''})`);
      }
      if (status.state === 'error' || status.state === 'idle') {
        throw new WrongBackendError(`the host could not load the model on ${backend}: ${status.error}`);
      }
    }
  });
  return { host, status: await api(host, 'GET', '/api/status') };
}

/** One `/api/generate` stream, timed as the client sees chunks. */
const stream = (host: BenchHost, body: object, t0?: number): Promise<TimedStream> => streamGenerate(host, body, t0);

const PROMPT = 'Q: describe the data in df, column by column.\nA:';

interface EpisodeFigures {
  ratio: number;
  ttftNewStepMs: number;
  ttftFreshMs: number;
  /** The fresh request: the host's warm start (reused, loaded, evaluated, waitedMs, saveMs, loadMs) and its evaluated prompt tokens. */
  fresh: { promptTokens: number; evaluatedPromptTokens: number; warmStart: unknown };
  /** The host's prompt-state policy after the fresh request. */
  policy: unknown;
}

/** An 8-step episode through the host: tokens evaluated ÷ final context, and TTFT of a new step vs the same prompt fresh. */
async function episode(host: BenchHost, steps: number): Promise<EpisodeFigures> {
  const episodeId = `gpu-bench-${randomBytes(4).toString('hex')}`;
  const messages: { role: string; content: string }[] = [
    { role: 'system', content: 'You are Datarus, a data analyst. Answer with <step> blocks.' },
    { role: 'user', content: 'What is the mean of column x in df?' }
  ];
  let evaluated = 0;
  let finalContext = 0;
  const ttft: number[] = [];
  for (let i = 0; i < steps; i++) {
    const step = formatStep({ thought: `Step ${i}: look at x.`, code: `print(df.x.iloc[${i}])` });
    const run = await stream(host, { episodeId, messages, grammar: `root ::= ${JSON.stringify(step)}`, maxTokens: 200 });
    evaluated += run.done.usage.evaluatedPromptTokens + run.done.usage.completionTokens;
    finalContext = run.done.usage.promptTokens + run.done.usage.completionTokens;
    if (i > 0) {
      ttft.push(run.firstMs);
    }
    messages.push({ role: 'assistant', content: run.done.text + (run.done.stopString ?? '') });
    messages.push({ role: 'user', content: `${formatObservation(String(i * 1.5))}\nContinue with the analysis.` });
  }
  const fresh = await stream(host, { episodeId: `${episodeId}-fresh`, messages: messages.slice(0, -2), grammar: 'root ::= "<step>"', maxTokens: 4 });
  const policy = (await api(host, 'GET', '/api/status')).episodes?.promptCache?.policy ?? null;
  await api(host, 'DELETE', `/api/episodes/${episodeId}`);
  await api(host, 'DELETE', `/api/episodes/${episodeId}-fresh`);
  return {
    ratio: evaluated / finalContext,
    ttftNewStepMs: median(ttft),
    ttftFreshMs: fresh.firstMs,
    fresh: { promptTokens: fresh.done.usage.promptTokens, evaluatedPromptTokens: fresh.done.usage.evaluatedPromptTokens, warmStart: fresh.done.warmStart ?? null },
    policy
  };
}

// ---- in-process ----------------------------------------------------------

async function inProcess(lib: LlamaModule, modelFile: string, backend: Backend, tokens: number, sweep: boolean) {
  const llama = await startLlama(lib, backend).catch(err => {
    throw new WrongBackendError(`node-llama-cpp cannot start ${backend}: ${err instanceof Error ? err.message : String(err)}; stopping`);
  });
  const actual = llama.gpu === false ? 'cpu' : llama.gpu;
  if (actual !== (backend === 'cuda12' ? 'cuda' : backend)) {
    await llama.dispose();
    throw new WrongBackendError(`node-llama-cpp chose ${actual}, not ${backend}: stopping`);
  }
  const gpuName = backend === 'cpu' ? null : (await llama.getGpuDeviceNames()).join(', ');
  const vramBefore = backend === 'cpu' ? null : await llama.getVramState();
  const model = await llama.loadModel({ modelPath: modelFile, gpuLayers: backend === 'cpu' ? 0 : 'max' });
  try {
    // Flash attention left to llama.cpp (the host's default), and forced on and off: a backend without the kernel runs it on the CPU.
    const byFlashAttention: Partial<Record<FlashAttentionMode, ContextFigures>> = {};
    for (const mode of sweep ? FLASH_ATTENTION_MODES : (['auto'] as FlashAttentionMode[])) {
      byFlashAttention[mode] = await contextFigures(lib, llama, model, backend, tokens, FLASH_ATTENTION_VALUE[mode]);
    }
    const parallel = await parallelInProcess(lib, model, backend, tokens);
    return { gpuName, gpuLayers: model.gpuLayers, totalLayers: model.fileInsights.totalLayers, vramBefore, byFlashAttention, parallel };
  } finally {
    await model.dispose();
    await llama.dispose();
  }
}

interface ParallelRun {
  sequences: number;
  /** Tokens of all sequences ÷ the time from the first sequence's first token to the last one's last. */
  tokensPerSecond: number;
  /** Tokens per decode batch node-llama-cpp ran while they decoded (batches of more tokens than sequences are prompts). */
  tokensPerBatch: number;
  batches: number;
}

/**
 * 1, 4 and 8 sequences of one context decoding at once (greedy, end tokens banned, flash attention auto),
 * their decode steps taken together and apart. The tokens per batch are counted by wrapping the
 * context's native object: node-llama-cpp's internals, read for this measurement only.
 */
async function parallelInProcess(lib: LlamaModule, model: Model, backend: Backend, tokens: number) {
  const most = Math.max(...PARALLEL);
  const context = await model.createContext({ contextSize: 2048, sequences: most, flashAttention: 'auto', ...(backend === 'cpu' ? { threads: 1 } : {}) });
  const batches: number[] = [];
  const internal = context as unknown as { _ctx: { initBatch(size: number): void } };
  const native = internal._ctx;
  internal._ctx = new Proxy(native, {
    get(target, key) {
      if (key === 'initBatch') {
        return (size: number) => {
          batches.push(size);
          return target.initBatch(size);
        };
      }
      const value = (target as any)[key];
      return typeof value === 'function' ? value.bind(target) : value;
    }
  });
  try {
    const tokenBias = endTokensBanned(lib, model);
    const runs: Record<'together' | 'apart', ParallelRun[]> = { together: [], apart: [] };
    const sequences = Array.from({ length: most }, () => context.getSequence());
    // Apart first: aligning a sequence is for good.
    for (const mode of ['apart', 'together'] as const) {
      if (mode === 'together') {
        const steps = new DecodeSteps();
        sequences.forEach(sequence => steps.align(sequence));
      }
      for (const n of [1, ...PARALLEL]) {
        batches.length = 0;
        const timed = await Promise.all(sequences.slice(0, n).map((sequence, i) => timedCompletion(lib, sequence, `${PROMPT} (${i})`, tokens, tokenBias)));
        const first = Math.min(...timed.map(t => t.first));
        const last = Math.max(...timed.map(t => t.last));
        const decodes = batches.filter(size => size <= n);
        runs[mode].push({
          sequences: n,
          tokensPerSecond: (timed.reduce((sum, t) => sum + t.count, 0) - n) / Math.max(1e-6, (last - first) / 1000),
          tokensPerBatch: decodes.reduce((a, b) => a + b, 0) / Math.max(1, decodes.length),
          batches: decodes.length
        });
      }
    }
    const ratio = (mode: 'together' | 'apart', n: number) => runs[mode].find(r => r.sequences === n)!.tokensPerSecond / runs[mode][0].tokensPerSecond;
    return { runs, vsSingle: Object.fromEntries(PARALLEL.map(n => [n, { together: ratio('together', n), apart: ratio('apart', n) }])) };
  } finally {
    internal._ctx = native;
    await context.dispose();
  }
}

function endTokensBanned(lib: LlamaModule, model: Model) {
  const tokenBias = new lib.TokenBias(model.tokenizer);
  for (const end of [model.tokens.eos, model.tokens.eot]) {
    if (end !== null) {
      tokenBias.set(end, 'never');
    }
  }
  return tokenBias;
}

/** One greedy completion on `sequence` from scratch: when its first and last tokens came, and how many. */
async function timedCompletion(lib: LlamaModule, sequence: Sequence, prompt: string, tokens: number, tokenBias: InstanceType<LlamaModule['TokenBias']>) {
  await sequence.clearHistory();
  const completion = new lib.LlamaCompletion({ contextSequence: sequence });
  let first: number | null = null;
  let last = 0;
  let count = 0;
  await completion.generateCompletion(prompt, {
    maxTokens: tokens,
    temperature: 0,
    tokenBias,
    onToken: t => {
      const now = performance.now();
      first ??= now;
      last = now;
      count += t.length;
    }
  });
  completion.dispose({ disposeSequence: false });
  return { first: first ?? last, last, count };
}

type FlashAttentionMode = 'on' | 'auto' | 'off';
const FLASH_ATTENTION_MODES: FlashAttentionMode[] = ['on', 'auto', 'off'];
const FLASH_ATTENTION_VALUE: Record<FlashAttentionMode, 'auto' | boolean> = { on: true, auto: 'auto', off: false };

interface ContextFigures {
  decodeTokensPerSecond: number;
  decodeRuns: number[];
  prefillTokens: number;
  prefillTokensPerSecond: number;
  vramAfterBytes: number | null;
  vramTotalBytes: number | null;
}

type Llama = Awaited<ReturnType<LlamaModule['getLlama']>>;
type Model = Awaited<ReturnType<Llama['loadModel']>>;
type Sequence = ReturnType<Awaited<ReturnType<Model['createContext']>>['getSequence']>;

/** Decode (greedy, 3 runs after a warm-up) and a 4,000-token prefill in one context. */
async function contextFigures(lib: LlamaModule, llama: Llama, model: Model, backend: Backend, tokens: number, flashAttention: 'auto' | boolean): Promise<ContextFigures> {
  const context = await model.createContext({ contextSize: 8192, flashAttention, ...(backend === 'cpu' ? { threads: 1 } : {}) });
  const vramAfter = backend === 'cpu' ? null : await llama.getVramState();
  try {
    const sequence = context.getSequence();
    // Decode without a grammar: greedy, end tokens banned so every run has the same length.
    const tokenBias = endTokensBanned(lib, model);
    const decode: number[] = [];
    for (let round = 0; round < 4; round++) {
      const { first, last, count } = await timedCompletion(lib, sequence, PROMPT, tokens, tokenBias);
      if (round > 0) {
        decode.push(((count - 1) * 1000) / Math.max(1e-6, last - first)); // round 0 warms up
      }
    }
    // Prefill: a 4,000-token prompt evaluated at once.
    await sequence.clearHistory();
    const words = model.tokenize(Array.from({ length: 4000 }, (_, i) => `value${i % 97}`).join(' '));
    const prompt = words.slice(0, 4000);
    const started = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    const prefillSeconds = (performance.now() - started) / 1000;
    return {
      decodeTokensPerSecond: median(decode),
      decodeRuns: decode,
      prefillTokens: prompt.length,
      prefillTokensPerSecond: prompt.length / prefillSeconds,
      vramAfterBytes: vramAfter?.used ?? null,
      vramTotalBytes: vramAfter?.total ?? null
    };
  } finally {
    await context.dispose();
  }
}

// ---- the run -------------------------------------------------------------

function bandwidthFor(gpuName: string | null, given: number | null): number | null {
  if (given) {
    return given;
  }
  return gpuName ? BANDWIDTH_GBS.find(([pattern]) => pattern.test(gpuName))?.[1] ?? null : null;
}

export async function benchGpu(argv: string[]): Promise<void> {
  const options = parseOptions(argv);
  const dryRun = options.gpu === 'cpu';
  const loadAtStart = os.loadavg();
  const shape = `${options.layers}l-${options.embd}e-${options.vocab}v`;
  const modelFile = path.join(MODELS_DIR, `shape-${shape}.gguf`);
  writeShapeModel(modelFile, ['--layers', String(options.layers), '--embd', String(options.embd), '--ff', String(options.ff), '--vocab', String(options.vocab)]);
  const weightsBytes = statSync(modelFile).size;
  const all = FULL.every(part => options.parts.has(part));
  process.stderr.write(`bench:gpu on ${options.gpu}: ${shape}, ${(weightsBytes / 1e9).toFixed(2)} GB; parts: ${[...options.parts].join(', ')}\n`);

  let local: Awaited<ReturnType<typeof inProcessPart>> | null = null;
  if (options.parts.has('inprocess') || options.parts.has('sweep')) {
    process.stderr.write(`bench:gpu: in-process…\n`);
    local = await inProcessPart(modelFile, options);
  }
  let viaHost: Awaited<ReturnType<typeof hostPart>> | null = null;
  if (options.parts.has('host')) {
    process.stderr.write(`bench:gpu: through the host…\n`);
    viaHost = await hostPart(modelFile, options);
  }
  // Warm starts and a group of 8 on a host of their own: 8 slots of 4,096 tokens (about 6 GiB of KV cache at
  // the 14B shape), once for each prompt-cache mode, one after another on the same machine.
  const warm: { mode: PromptCacheMode; result: WarmStartBench; status: any }[] = [];
  if (options.parts.has('warm')) {
    for (const mode of options.promptCache) {
      process.stderr.write(`bench:gpu: warm starts and a group of 8, prompt cache ${mode}…\n`);
      const second = await startHost(modelFile, options.gpu, { maxEpisodes: 8, contextSize: 4096, promptCache: mode });
      try {
        warm.push({ mode, result: await benchWarmStart(second.host, { profile: 'datarus-r1', groupSize: 8 }), status: second.status });
      } finally {
        await second.host.stop();
      }
    }
  }

  const firstStatus = viaHost?.status ?? warm[0]?.status ?? null;
  const gpuName = local?.gpuName ?? firstStatus?.gpu?.name ?? null;
  const single = viaHost ? median(viaHost.decode) : null;
  const bandwidth = bandwidthFor(gpuName, options.bandwidthGbs);
  const ceiling = bandwidth ? (bandwidth * 1e9) / weightsBytes : null;
  const decodeForCeiling = local?.decodeTokensPerSecond ?? single;
  const primaryWarm = warm.find(w => w.mode === 'auto') ?? warm[0] ?? null;
  const results = {
    date: new Date().toISOString(),
    dryRun,
    note: dryRun ? 'CPU dry run of the script with a small shape: these are not GPU figures' : null,
    loadAverage: { start: loadAtStart, end: os.loadavg() },
    parts: [...options.parts],
    promptCache: options.promptCache,
    backend: options.gpu,
    gpu: gpuName,
    shape: { layers: options.layers, embd: options.embd, ff: options.ff, vocab: options.vocab, weightsBytes },
    layersOffloaded: local ? `${local.gpuLayers}/${local.totalLayers}` : null,
    hostLayersOffloaded: firstStatus ? `${firstStatus.model?.gpuLayers}/${firstStatus.model?.totalLayers}` : null,
    hostBackends: firstStatus?.backends ?? null,
    ...(local?.decodeTokensPerSecond !== undefined || viaHost
      ? {
          'gpu.decode_tokens_per_s': { host: single, inProcess: local?.decodeTokensPerSecond ?? null, runs: { host: viaHost?.decode ?? null, inProcess: local?.decodeRuns ?? null } },
          'gpu.stream_vs_inprocess': single !== null && local?.decodeTokensPerSecond ? single / local.decodeTokensPerSecond : null,
          'gpu.decode_vs_ceiling': { value: ceiling && decodeForCeiling ? decodeForCeiling / ceiling : null, backend: options.gpu, measured: local?.decodeTokensPerSecond ? 'in-process' : 'host stream' }
        }
      : {}),
    ...(local?.prefillTokensPerSecond !== undefined ? { 'gpu.prefill_tokens_per_s': local.prefillTokensPerSecond, prefillTokens: local.prefillTokens } : {}),
    ...(local && options.parts.has('sweep')
      ? {
          'gpu.flash_attention': Object.fromEntries(
            FLASH_ATTENTION_MODES.map(mode => [mode, { decodeTokensPerSecond: local!.byFlashAttention[mode]!.decodeTokensPerSecond, prefillTokensPerSecond: local!.byFlashAttention[mode]!.prefillTokensPerSecond }])
          )
        }
      : {}),
    ...(local ? { 'gpu.inprocess_parallel': local.parallel } : {}),
    ...(viaHost
      ? {
          ...Object.fromEntries(viaHost.parallel.map(p => [`gpu.parallel${p.sequences}_vs_single`, p.aggregate / single!])),
          parallel: viaHost.parallel,
          'gpu.prefill_ratio_8_steps': viaHost.steps.ratio,
          'gpu.ttft_new_step_ms': viaHost.steps.ttftNewStepMs,
          'gpu.ttft_fresh_same_prompt_ms': viaHost.steps.ttftFreshMs,
          freshSamePrompt: viaHost.steps.fresh,
          episodePolicy: viaHost.steps.policy
        }
      : {}),
    ...(primaryWarm
      ? {
          'host.ttft_fresh_vs_new_step': primaryWarm.result['host.ttft_fresh_vs_new_step'],
          'rollouts.group_prefill_ratio': primaryWarm.result['rollouts.group_prefill_ratio'],
          warmStart: Object.fromEntries(warm.map(w => [w.mode, w.result]))
        }
      : {}),
    'gpu.vram_used_bytes': {
      model_and_context_in_process: local?.vramUsedBytes ?? null,
      device_while_host_ran: viaHost?.vramUsed ?? null,
      total: local?.vramTotalBytes ?? firstStatus?.gpu?.vramTotalBytes ?? null
    },
    bandwidthGBs: bandwidth,
    ceilingTokensPerSecond: ceiling
  };
  const markdown = gpuMarkdown(results);
  // A dry run, or a run of some parts only, is kept beside a full GPU run's figures, never over them.
  writePart(dryRun ? 'gpu-dry-run' : all ? 'gpu' : 'gpu-parts', results, markdown);
  process.stdout.write(markdown + '\n');
}

async function inProcessPart(modelFile: string, options: Options) {
  const lib = await import('node-llama-cpp');
  const measured = await inProcess(lib, modelFile, options.gpu, options.tokens, options.parts.has('sweep'));
  // The host's default is `auto`: its figures are the ones compared with the host.
  const auto = measured.byFlashAttention.auto!;
  return {
    ...(options.parts.has('inprocess') ? auto : {}),
    vramAfterBytes: auto.vramAfterBytes,
    vramTotalBytes: auto.vramTotalBytes,
    byFlashAttention: measured.byFlashAttention,
    parallel: measured.parallel,
    gpuName: measured.gpuName,
    gpuLayers: measured.gpuLayers,
    totalLayers: measured.totalLayers,
    vramUsedBytes: measured.vramBefore && auto.vramAfterBytes !== null ? auto.vramAfterBytes - measured.vramBefore.used : null
  };
}

/** Decode through the host's stream, 4 and 8 episodes at once, and the 8-step episode with its fresh same-prompt request. */
async function hostPart(modelFile: string, options: Options) {
  const { host, status } = await startHost(modelFile, options.gpu, { maxEpisodes: Math.max(...PARALLEL), promptCache: options.promptCache[0] });
  try {
    const body = { prompt: PROMPT, maxTokens: options.tokens, temperature: 0 };
    await stream(host, { ...body, maxTokens: 4, episodeId: 'warm-up' });
    const decode: number[] = [];
    for (let i = 0; i < 3; i++) {
      decode.push((await stream(host, { ...body, episodeId: `single-${i}` })).tokensPerSecond);
    }
    // Free every slot first: the parallel episodes then never wait on an eviction.
    for (const id of ['warm-up', 'single-0', 'single-1', 'single-2']) {
      await api(host, 'DELETE', `/api/episodes/${id}`);
    }
    const parallel = [];
    for (const n of PARALLEL) {
      // N episodes at once: tokens of all ÷ the time from the first request to the last token; the host's
      // decode steps meanwhile: how many episodes each step took together.
      const before = (await api(host, 'GET', '/api/status')).episodes.decodeSteps;
      const t0 = performance.now();
      const runs = await Promise.all(Array.from({ length: n }, (_, i) => stream(host, { ...body, prompt: `${PROMPT} (${i})`, episodeId: `parallel-${n}-${i}` }, t0)));
      const wallSeconds = Math.max(...runs.map(r => r.lastMs)) / 1000;
      const after = (await api(host, 'GET', '/api/status')).episodes.decodeSteps;
      const steps = after.steps === null ? null : { steps: after.steps - before.steps, episodesPerStep: (after.sequences - before.sequences) / Math.max(1, after.steps - before.steps) };
      parallel.push({ sequences: n, aggregate: runs.reduce((sum, r) => sum + r.tokens, 0) / wallSeconds, each: runs.map(r => r.tokensPerSecond), decodeSteps: steps });
      for (let i = 0; i < n; i++) {
        await api(host, 'DELETE', `/api/episodes/parallel-${n}-${i}`);
      }
    }
    const steps = await episode(host, 8);
    const after = await api(host, 'GET', '/api/status');
    const vramUsed: number | null = after.gpu ? after.gpu.vramTotalBytes - after.gpu.vramFreeBytes : null;
    return { status, decode, parallel, steps, vramUsed };
  } finally {
    await host.stop();
  }
}

function gpuMarkdown(r: any): string {
  const f = (n: number | null | undefined, d = 2) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(d));
  const gib = (n: number | null) => (n === null ? '–' : `${(n / 2 ** 30).toFixed(1)} GiB`);
  const all = FULL.every(part => r.parts.includes(part));
  const measured = `${r.layersOffloaded ?? r.hostLayersOffloaded} layers offloaded`;
  const load = `load average ${r.loadAverage.start.map((n: number) => n.toFixed(2)).join(' / ')} at the start, ${r.loadAverage.end.map((n: number) => n.toFixed(2)).join(' / ')} at the end`;
  const heading = r.dryRun
    ? `**CPU dry run** (${r.date}; ${load}): the script ran end to end on the CPU with a ${r.shape.layers}-layer, ${r.shape.embd}-wide, ${r.shape.vocab}-token shape. ` +
      '**These are not GPU figures; the GPU run is pending.** See "GPU run, prepared" below for the command.'
    : `Measured ${r.date} on **${r.gpu}** with the **${r.backend}** backend, Qwen2.5-14B shape (${r.shape.layers} layers, ${(r.shape.weightsBytes / 1e9).toFixed(1)} GB of Q4_K_M-like weights), ` +
      `${measured}; ${load}.`;
  const rows: string[] = [];
  if (r['gpu.decode_tokens_per_s']) {
    rows.push(
      `| decode tokens/s without a grammar: host stream / in-process | | ${f(r['gpu.decode_tokens_per_s'].host, 1)} / ${f(r['gpu.decode_tokens_per_s'].inProcess, 1)} |`,
      `| \`gpu.stream_vs_inprocess\` | ≥ 0.97 | ${f(r['gpu.stream_vs_inprocess'])} |`,
      `| \`gpu.decode_vs_ceiling\` (${r.backend}, ${r['gpu.decode_vs_ceiling'].measured} decode ÷ ${r.bandwidthGBs ? `${r.bandwidthGBs} GB/s` : 'bandwidth unknown'} ÷ weights) | ≥ 0.5 | ${f(r['gpu.decode_vs_ceiling'].value)}${r.ceilingTokensPerSecond ? ` (ceiling ${f(r.ceilingTokensPerSecond, 0)} tokens/s)` : ''} |`
    );
  }
  if (r['gpu.prefill_tokens_per_s'] !== undefined) {
    rows.push(`| prefill tokens/s, ${r.prefillTokens}-token prompt (in-process, flash attention auto) | | ${f(r['gpu.prefill_tokens_per_s'], 0)} |`);
  }
  if (r.parallel) {
    for (const p of r.parallel) {
      const steps = p.decodeSteps ? `; ${f(p.decodeSteps.episodesPerStep, 2)} episodes per decode step` : '';
      rows.push(
        `| \`gpu.parallel${p.sequences}_vs_single\` (${p.sequences} episodes at once through the host, aggregate ÷ one) | ${p.sequences === 4 ? '≥ 2.5' : ''} | ${f(r[`gpu.parallel${p.sequences}_vs_single`])} (${f(p.aggregate, 1)} tokens/s together${steps}) |`
      );
    }
  }
  if (r['gpu.inprocess_parallel']) {
    const ip = r['gpu.inprocess_parallel'];
    const cell = (mode: 'together' | 'apart') =>
      ip.runs[mode].map((run: any) => `${run.sequences}: ${f(run.tokensPerSecond, 1)} (${f(run.tokensPerBatch, 1)}/batch)`).join(', ');
    rows.push(
      `| in-process, N sequences of one context at once ÷ one: steps together / apart | | ${PARALLEL.map(n => `${n}: ${f(ip.vsSingle[n].together)} / ${f(ip.vsSingle[n].apart)}`).join('; ')} |`,
      `| in-process tokens/s (tokens per decode batch), steps together | | ${cell('together')} |`,
      `| the same, steps apart (node-llama-cpp's batching alone) | | ${cell('apart')} |`
    );
  }
  if (r['gpu.prefill_ratio_8_steps'] !== undefined) {
    const fresh = r.freshSamePrompt;
    const ws = fresh?.warmStart;
    rows.push(
      `| 8-step episode: tokens evaluated ÷ final context | ≤ 1.05 | ${f(r['gpu.prefill_ratio_8_steps'], 3)} |`,
      `| time to first token: new step / same prompt, fresh episode (prompt cache ${r.promptCache[0]}) | | ${f(r['gpu.ttft_new_step_ms'], 0)} ms / ${f(r['gpu.ttft_fresh_same_prompt_ms'], 0)} ms |`,
      `| the fresh request: prompt tokens; evaluated; loaded / saved in ms; the policy after it | | ${fresh ? `${fresh.promptTokens}; ${fresh.evaluatedPromptTokens}` : '–'}; ${ws ? `${ws.loaded} loaded (${f(ws.loadMs, 0)} ms), saves ${f(ws.saveMs, 0)} ms` : '–'}; ${policyCell(r.episodePolicy)} |`
    );
  }
  for (const [mode, w] of Object.entries<any>(r.warmStart ?? {})) {
    const waited = (w.group.warmStarts ?? []).map((s: any) => (s ? `${s.loaded}/${s.evaluated ?? '?'}/${f(s.waitedMs, 0)}` : '–')).join(', ');
    rows.push(
      `| **prompt cache ${mode}**: \`host.ttft_fresh_vs_new_step\` (new episode with the datarus-r1 system prompt, warm ÷ new step; cold ÷ new step) | ≤ 1.5 | ${f(w['host.ttft_fresh_vs_new_step'])}; cold ${f(w.ttftColdVsNewStep)} (${f(w.ttftNewStepMs, 0)} / ${f(w.ttftNewEpisodeWarmMs, 0)} / ${f(w.ttftNewEpisodeColdMs, 0)} ms) |`,
      `| prompt cache ${mode}: \`rollouts.group_prefill_ratio\` (8 new episodes, one new ${w.group.promptTokens}-token prompt, at once) | ≤ 1.1 | ${f(w['rollouts.group_prefill_ratio'], 3)} (${w.group.loadedFromGroupState} loaded the group's state; first tokens after ${f(Math.min(...w.group.ttftMs), 0)}–${f(Math.max(...w.group.ttftMs), 0)} ms; a cold new episode: ${f(w.ttftNewEpisodeColdMs, 0)} ms) |`,
      `| prompt cache ${mode}: the group, each member: tokens loaded / evaluated before the generation / ms waited for another's prefill | | ${waited} |`,
      `| prompt cache ${mode}: prompt states, save / load ms per token (KiB per token); decode of new episodes warm ÷ cold | | ${f(w.stateCosts.saveMsPerToken, 4)} / ${f(w.stateCosts.loadMsPerToken, 4)} (${f(w.stateCosts.bytesPerToken === null ? null : w.stateCosts.bytesPerToken / 1024, 0)}); ${f(w['host.warm_vs_cold_decode'])} |`,
      `| prompt cache ${mode}: the policy after the warm starts: evaluating / saving / loading ms per token; saves / loads declined | | ${policyCell(w.policy)} |`
    );
  }
  if (r['gpu.flash_attention']) {
    rows.push(
      `| in-process, flash attention on / auto / off: prefill tokens/s | | ${FLASH_ATTENTION_MODES.map(m => f(r['gpu.flash_attention'][m].prefillTokensPerSecond, 0)).join(' / ')} |`,
      `| in-process, flash attention on / auto / off: decode tokens/s | | ${FLASH_ATTENTION_MODES.map(m => f(r['gpu.flash_attention'][m].decodeTokensPerSecond, 1)).join(' / ')} |`
    );
  }
  rows.push(
    `| VRAM: model + 8k context in-process / device in use while the host ran | | ${gib(r['gpu.vram_used_bytes'].model_and_context_in_process)} / ${gib(r['gpu.vram_used_bytes'].device_while_host_ran)} |`
  );
  return [
    `## GPU${r.dryRun ? ', CPU dry run of the script' : all ? '' : `, parts: ${r.parts.join(', ')}`}`,
    '',
    heading,
    '',
    '| metric | goal | value |',
    '|---|---|---|',
    ...rows,
    '',
    'How: `src/bench/gpu.ts`. The model is written by `models/make_shape_model.py` (random weights: its text is noise, its speed',
    "is the shape's). Decode runs are greedy with end tokens banned, 3 runs after a warm-up, median. The script stops at once",
    'if node-llama-cpp or the host runs on another backend than the one named. Episodes at once each get their own prompt;',
    "the host takes their decode steps together (`--decode-steps together`). In-process, the tokens per batch are read from",
    "node-llama-cpp's context (prompt batches left out). The group row lists, per member, the `done` event's `warmStart`:",
    'tokens loaded from a saved state / evaluated before the generation / ms waited.'
  ].join('\n');
}

if (require.main === module) {
  benchGpu(process.argv.slice(2)).catch(err => {
    process.stderr.write(`bench:gpu stopped: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof WrongBackendError ? 3 : 1);
  });
}
