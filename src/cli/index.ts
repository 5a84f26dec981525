/**
 * `datarus`: the command-line tool. `serve` runs the model host; `parse` and
 * `score` apply the protocol core to a transcript; `models` lists manifests.
 */
import { Presets, SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { parseDatarus, structuralReward } from '../protocol';
import { Engine } from '../host/engine';
import { EXPORT_FORMATS } from '../episode/export';
import { Redactor, secretEnvValues } from '../episode/redact';
import { downloadFile } from '../host/models/download';
import { DomainError } from '../host/errors';
import { EpisodeStore } from '../host/episodes/episodeStore';
import { readEpisodeLog } from '../headless/episodeLog';
import { judgeAnnotations, judgeWanted } from '../headless/judge';
import { judgeLogCommand, JudgeLogOptions } from '../headless/judgeLog';
import { UsageError } from '../headless/usageError';
import { scoreBatch } from './scoreBatch';
import { writeExport } from '../host/episodes/exportFiles';
import { loadManifests } from '../host/models/manifests';
import { describeSettings } from '../host/models/modelSettings';
import { downloadUrl } from '../host/models/pull';
import { collect, port, positiveInt } from './arguments';
import { addHeadlessCommands } from './headlessCommands';
import { contextSizeOption, gpuOption, manifestsDirOption, modelsDirOption, threadsOption } from './hostOptions';
import { addJudgeOptions } from './judgeOptions';
import { findModelFile, modelListLine } from './modelFiles';
import { HostServer, Listen } from '../host/http/server';
import { HOST_VERSION } from '../host/version';

function gpuLayers(value: string): number | 'auto' {
  if (value === 'auto') {
    return 'auto';
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new InvalidArgumentError('must be auto or a whole number of layers (0 keeps everything on the CPU)');
  }
  return n;
}

async function readInput(file: string | undefined): Promise<string> {
  if (file && file !== '-') {
    return fs.readFile(file, 'utf8');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function buildProgram(): Command {
  const program = new Command('datarus')
    .description('Datarus Lab: host the Datarus-R1 model and work with its protocol.')
    .version(HOST_VERSION);

  program
    .command('parse')
    .description('print, as JSON, what the parser made of a transcript (stdin when no file)')
    .argument('[file]', 'transcript file; - or nothing reads stdin')
    .option('--harness-observations', 'accept <observation> after a step as written by the harness')
    .action(async (file: string | undefined, opts: { harnessObservations?: boolean }) => {
      const result = parseDatarus(await readInput(file), { harnessObservations: opts.harnessObservations });
      const { reasoning, ...shown } = result;
      process.stdout.write(JSON.stringify(reasoning ? { ...shown, reasoning } : shown, null, 2) + '\n');
    });

  addJudgeOptions(
    program
      .command('score')
      .description('print the structural reward of a transcript and its parts (stdin when no file); --batch: JSON lines in and out; --judge: the judge\'s scores of logged episodes')
      .argument('[file]', 'transcript file; - or nothing reads stdin')
      .option('--harness-observations', 'accept <observation> after a step as written by the harness')
      .option('--batch', 'score JSON lines from stdin, one answer line each ({"text", "label_answers"?, "progress"?, …}; see datarus_jupyterlab.rewards)')
      .option('--log <file>', "with --judge: the episode log (default: $DATARUS_EPISODES_FILE, else <Jupyter's data dir>/datarus/episodes.jsonl)")
      .option('--episode <id>', 'with --judge: this episode of the log (repeatable; default every one)', collect),
    true
  ).action(async (file: string | undefined, opts: JudgeLogOptions & { harnessObservations?: boolean; batch?: boolean }) => {
    if (judgeWanted(opts)) {
      if (file !== undefined || opts.batch) {
        throw new UsageError('--judge scores logged episodes (--log, --episode): it takes no transcript file and no --batch');
      }
      await judgeLogCommand(opts, line => process.stdout.write(`${line}\n`), line => process.stderr.write(`${line}\n`));
      return;
    }
    if (opts.batch) {
      if (file !== undefined) {
        throw new UsageError('--batch reads JSON lines from stdin: it takes no file');
      }
      await scoreBatch(process.stdin, process.stdout);
      return;
    }
    const result = parseDatarus(await readInput(file), { harnessObservations: opts.harnessObservations });
    const reward = structuralReward(result);
    process.stdout.write(JSON.stringify({ ...reward, violations: result.violations }, null, 2) + '\n');
  });

  const models = program.command('models').description('model manifests and their files');
  models
    .command('list', { isDefault: true })
    .description('list the model manifests and whether each file is present')
    .addOption(manifestsDirOption())
    .addOption(modelsDirOption())
    .action(async (opts: { manifestsDir: string; modelsDir: string }) => {
      const { manifests, problems } = await loadManifests(opts.manifestsDir);
      process.stdout.write(`models folder: ${path.resolve(opts.modelsDir)}\n`);
      for (const m of manifests.values()) {
        process.stdout.write(`${modelListLine(m, await findModelFile(m, opts.modelsDir))}\n`);
      }
      for (const p of problems) {
        process.stderr.write(`warning: manifest ${p.file} ${p.message}\n`);
      }
    });

  models
    .command('pull')
    .description("download a manifest's GGUF into the models folder: resumes, verifies the checksum")
    .argument('<name>', 'manifest name')
    .option('--url <address>', "download from this address instead of the manifest's")
    .addOption(manifestsDirOption())
    .addOption(modelsDirOption())
    .action(async (name: string, opts: { url?: string; manifestsDir: string; modelsDir: string }) => {
      await pull(name, opts);
    });

  addJudgeOptions(
    program
      .command('export')
      .description('export logged episodes as training data (JSONL, or a folder of notebooks for ipynb)')
      .requiredOption('-f, --format <format>', `one of ${EXPORT_FORMATS.join(', ')}`)
      .requiredOption('-o, --out <path>', 'file to write (a folder for ipynb); never overwritten')
      .option('--log <file>', "episode log (default: $DATARUS_EPISODES_FILE, else <Jupyter's data dir>/datarus/episodes.jsonl)")
      .option('--since <date>', 'episodes started at or after this ISO date')
      .option('--until <date>', 'episodes started at or before this ISO date')
      .option('--notebook <path>', 'episodes of this notebook')
      .option('--model <name>', 'episodes of this model')
      .option('--feedback <kind>', 'up, down (episode rating) or rated (any feedback)')
      .option('--min-reward <score>', 'structural reward at least this', parseFloat)
      .option('--finished', 'only answered episodes')
      .option('--unfinished', 'only episodes that did not answer')
      .option('--include-unanswered', 'sft: also episodes that did not answer (by default SFT takes answered episodes only)'),
    true
  ).action(async opts => {
    if (!(EXPORT_FORMATS as readonly string[]).includes(opts.format)) {
      throw new DomainError('invalid_request', `unknown format "${opts.format}": use one of ${EXPORT_FORMATS.join(', ')}`);
    }
    const stderr = (line: string) => process.stderr.write(`${line}\n`);
    const { episodes, redactor } = await readEpisodeLog(opts.log, stderr);
    const annotate = judgeWanted(opts) ? judgeAnnotations(opts, stderr) : undefined;
    try {
      const summary = await writeExport(
        episodes,
        opts.format,
        path.resolve(opts.out),
        {
          since: opts.since,
          until: opts.until,
          notebook: opts.notebook,
          model: opts.model,
          feedback: opts.feedback,
          minReward: opts.minReward,
          finished: opts.finished ? true : opts.unfinished ? false : undefined,
          includeUnanswered: opts.includeUnanswered === true
        },
        redactor, // every string is redacted again: older logs may hold secrets
        annotate?.annotate
      );
      stderr(`wrote ${summary.rows} ${opts.format} row(s) from ${summary.episodes} episode(s) to ${summary.path}`);
    } finally {
      await annotate?.close();
    }
  });

  program
    .command('serve')
    .description('run the model host: on 127.0.0.1 with a bearer token, or on a unix socket under Jupyter')
    .option('-m, --model <name|path>', 'manifest name, or path of a .gguf file (anywhere), to load at start')
    .addOption(new Option('-p, --port <n>', 'TCP port on 127.0.0.1').argParser(port).default(8765).conflicts('socket'))
    .option('--socket <path>', 'listen on a unix socket instead of TCP (how Jupyter runs the host)')
    .addOption(
      new Option('--token <token>', 'bearer token; visible to other users in the process list, prefer the two below').conflicts('tokenFile')
    )
    .option('--token-file <file>', 'read the bearer token from this file (default: $DATARUS_HOST_TOKEN, else a new one is printed)')
    .addOption(manifestsDirOption())
    .addOption(modelsDirOption())
    .addOption(threadsOption('CPU threads (default: the fastest of 1..cores, measured when the model loads)'))
    .addOption(contextSizeOption("context size in tokens (default: the trained context as far as half the free memory holds its KV cache, at most the manifest's)"))
    .option('--max-episodes <n>', 'episodes that can hold a context sequence at once (default 4)', positiveInt)
    .addOption(
      new Option('--prompt-cache <mode>', 'saved prompt states for new episodes: auto (where this host measures them faster than evaluating), on, off')
        .choices(['auto', 'on', 'off'])
    )
    .option('--no-prompt-cache', 'the same as --prompt-cache off: evaluate every new episode\'s prompt in full')
    .addOption(
      new Option('--flash-attention <mode>', 'flash attention: auto (where the backend runs it), on, off').choices(['auto', 'on', 'off']).default('auto')
    )
    .addOption(
      new Option('--decode-steps <mode>', 'episodes generating at once: together (ask for their next tokens together, one batch), apart (for measurements)')
        .choices(['together', 'apart'])
        .default('together')
    )
    .addOption(
      gpuOption('auto (CUDA → CUDA 12 → Vulkan → CPU, Metal → CPU on macOS, each GPU proven by a self-test), cuda, cuda12, vulkan, metal, cpu, or a comma-separated list to try in order').default(
        'auto'
      )
    )
    .option('--cpu', 'never use a GPU (same as --gpu cpu)')
    .option('--gpu-layers <n|auto>', 'layers to offload to the GPU (default auto: as many as fit in free VRAM)', gpuLayers)
    .option('--selftest-timeout <s>', 'seconds a GPU backend self-test may take before the backend is rejected (default 90)', positiveInt)
    .option('--episodes-file <file>', 'episode log (JSONL) for POST /api/log/*; none disables logging')
    .addOption(new Option('--log-images <policy>', 'images in logged outputs: a reference (hash, size) or dropped').choices(['reference', 'drop']).default('reference'))
    .option('--exit-with-stdin', 'exit when stdin closes (the parent process died)')
    .option('--stay-up-on-load-error', 'keep serving without a model when --model cannot load (how Jupyter runs the host: the status bar shows why)')
    .action(async opts => {
      await serve(opts);
    });

  addHeadlessCommands(program);

  return program;
}

async function pull(name: string, opts: { url?: string; manifestsDir: string; modelsDir: string }): Promise<void> {
  const { manifests } = await loadManifests(opts.manifestsDir);
  const manifest = manifests.get(name);
  if (!manifest) {
    throw new DomainError('unknown_model', `no manifest named "${name}" (known: ${[...manifests.keys()].join(', ')})`);
  }
  const url = downloadUrl(manifest, opts.url);
  await fs.mkdir(opts.modelsDir, { recursive: true });
  const dest = path.join(opts.modelsDir, manifest.file);
  if (await fs.stat(dest).then(() => true, () => false)) {
    process.stderr.write(`${dest} is already there\n`);
    return;
  }
  const bar = new SingleBar(
    {
      format: '{bar} {percentage}% | {done}/{size} | {speed}/s | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 20,
      stream: process.stderr,
      // Logs and CI are not terminals: print a line every few seconds there.
      noTTYOutput: true,
      notTTYSchedule: 3000
    },
    Presets.shades_classic
  );
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.stderr.write(`downloading ${manifest.name} from ${url}\n`);
  let started = false;
  const result = await downloadFile({
    url,
    dest,
    sha256: manifest.sha256,
    expectedBytes: manifest.sizeBytes,
    signal: abort.signal,
    onProgress: p => {
      const values = { done: formatBytes(p.downloadedBytes), size: p.totalBytes ? formatBytes(p.totalBytes) : '?', speed: formatBytes(p.bytesPerSecond) };
      if (!started) {
        started = true;
        if (p.resumedFromBytes > 0) {
          process.stderr.write(`resuming at ${formatBytes(p.resumedFromBytes)}\n`);
        }
        bar.start(p.totalBytes ?? 0, p.downloadedBytes, values);
      }
      bar.update(p.downloadedBytes, values);
    }
  }).finally(() => bar.stop());
  process.stderr.write(`saved ${result.path} (${formatBytes(result.bytes)}, sha256 ${result.sha256}${manifest.sha256 ? ', verified' : ''})\n`);
}

function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

interface ServeOptions {
  model?: string;
  port: number;
  socket?: string;
  token?: string;
  tokenFile?: string;
  manifestsDir: string;
  modelsDir: string;
  threads?: number;
  contextSize?: number;
  maxEpisodes?: number;
  /** A mode, false for --no-prompt-cache, undefined (auto) when not given. */
  promptCache?: boolean | 'auto' | 'on' | 'off';
  flashAttention: 'auto' | 'on' | 'off';
  decodeSteps: 'together' | 'apart';
  gpu: string;
  cpu?: boolean;
  gpuLayers?: number | 'auto';
  selftestTimeout?: number;
  episodesFile?: string;
  logImages: 'reference' | 'drop';
  exitWithStdin?: boolean;
  stayUpOnLoadError?: boolean;
}

/**
 * The bearer token: from --token-file, --token or $DATARUS_HOST_TOKEN, else a
 * new random one. Exits with a clear message on an unreadable or empty file.
 */
async function resolveToken(opts: ServeOptions): Promise<{ token: string; generated: boolean }> {
  if (opts.tokenFile) {
    const text = await fs.readFile(opts.tokenFile, 'utf8').catch((err: Error) => {
      process.stderr.write(`datarus serve: cannot read the token file: ${err.message}\n`);
      process.exit(2);
    });
    const token = text.split(/\r?\n/)[0].trim();
    if (token === '') {
      process.stderr.write(`datarus serve: the token file ${opts.tokenFile} is empty\n`);
      process.exit(2);
    }
    return { token, generated: false };
  }
  if (opts.token) {
    process.stderr.write(
      'warning: --token is visible to other users of this machine (ps, /proc); pass it in $DATARUS_HOST_TOKEN or --token-file instead\n'
    );
    return { token: opts.token, generated: false };
  }
  const fromEnv = process.env.DATARUS_HOST_TOKEN;
  return fromEnv ? { token: fromEnv, generated: false } : { token: randomBytes(24).toString('base64url'), generated: true };
}

async function serve(opts: ServeOptions): Promise<void> {
  const { token, generated } = await resolveToken(opts);
  // A backstop only: every promise is meant to be awaited or caught where it starts.
  // A stray rejection is logged instead of taking every episode down with the process.
  process.on('unhandledRejection', reason => {
    process.stderr.write(`datarus host: unhandled rejection (a bug; please report it): ${reason instanceof Error ? reason.stack : String(reason)}\n`);
  });
  const engine = new Engine({
    manifestsDir: path.resolve(opts.manifestsDir),
    modelsDir: path.resolve(opts.modelsDir),
    model: opts.model,
    gpu: opts.cpu ? 'cpu' : opts.gpu,
    gpuLayers: opts.gpuLayers,
    selfTestTimeoutMs: opts.selftestTimeout ? opts.selftestTimeout * 1000 : undefined,
    // One line the Jupyter server reads to know which backend a host that dies was on.
    onBackendChosen: backend => process.stderr.write(`datarus host backend: ${backend}\n`),
    threads: opts.threads,
    contextSize: opts.contextSize,
    maxEpisodes: opts.maxEpisodes,
    promptCache: opts.promptCache,
    flashAttention: opts.flashAttention === 'auto' ? 'auto' : opts.flashAttention === 'on',
    decodeSteps: opts.decodeSteps
  });
  const store = opts.episodesFile
    ? new EpisodeStore(path.resolve(opts.episodesFile), {
        redactor: new Redactor(secretEnvValues(process.env)),
        images: opts.logImages,
        maxOutputChars: 20000
      })
    : null;
  const server = new HostServer(engine, token, store);
  const listen: Listen = opts.socket ? { socket: path.resolve(opts.socket) } : { host: '127.0.0.1', port: opts.port };
  let address: string;
  try {
    address = await server.listen(listen);
  } catch (err) {
    process.stderr.write(`datarus serve: ${(err as Error).message}\n`);
    process.exit(2);
  }
  process.stderr.write(`datarus host ${HOST_VERSION} listening on ${address}\n`);
  if (generated) {
    process.stdout.write(`token: ${token}\n`);
  }
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) {
      return;
    }
    stopping = true;
    process.stderr.write(`datarus host stopping (${why})\n`);
    // Should anything hang on the way down, leave anyway, and say so with the exit code.
    setTimeout(() => {
      process.stderr.write('datarus host: did not stop within 20 s; exiting\n');
      process.exit(1);
    }, 20000).unref();
    // New connections are refused at once; running generations are stopped (their
    // streams end with stopReason "abort"), then the connections close.
    const closed = server.close().catch(() => undefined);
    if ('socket' in listen) {
      await fs.unlink(listen.socket).catch(() => undefined);
    }
    await engine.dispose().catch(() => undefined);
    await closed;
    process.exit(); // with process.exitCode: 0 unless the model to load at start failed
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  if (opts.exitWithStdin) {
    process.stdin.on('end', () => void stop('parent closed stdin'));
    process.stdin.resume();
  }
  // Loading runs in the background: the status endpoint reports progress meanwhile.
  void engine.start().then(async () => {
    if (stopping) {
      return; // stopped while loading: the model was unloaded on purpose, not a load failure
    }
    const status = await engine.status();
    process.stderr.write(
      status.error
        ? `datarus host: ${status.error}\n`
        : `datarus host ready: backend ${status.backend}, model ${status.model?.name ?? '(none)'}, ${status.threads} threads\n`
    );
    if (status.model) {
      // Which settings and why, the chosen context size among them.
      process.stderr.write(`datarus host ${describeSettings({ promptProfile: status.model.promptProfile, contextSize: status.contextSize, settings: status.model.settings })}\n`);
    }
    // Like other local model servers, a model that cannot load ends `serve`,
    // rather than leaving a server that answers 503 to everything.
    if (opts.model && !status.model && !opts.stayUpOnLoadError) {
      process.stderr.write(`datarus serve: could not load the model "${opts.model}"; exiting\n`);
      process.exitCode = 3;
      void stop('the model did not load');
    }
  });
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch(err => {
      process.stderr.write(`datarus: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
