/**
 * The judge from the command line (`datarus score --judge`, `rollouts --judge`,
 * `export --judge`; src/cli/judgeOptions.ts declares its options): the model it asks (the embedded host, or an
 * OpenAI-compatible server with `--judge-url`), and the file its verdicts are
 * cached in, by key (src/episode/judge.ts), so a log judged twice asks once.
 */
import * as path from 'node:path';

import { judgeEpisode, JudgeCache, JudgeResult, judgeRowFields } from '../agent/judge';
import { RowAnnotations, structuralRewardOf } from '../episode/export';
import { JUDGE_RUBRIC_VERSION, JudgeVerdict } from '../episode/judge';
import type { Episode, StoredEpisode } from '../episode/types';
import { defaultEpisodesFile } from './jupyterDataDir';
import { appendJsonLine, readJsonLines } from '../host/episodes/jsonl';
import { ModelBackend, remoteBackend, startEmbeddedHost } from './models';
import type { Write } from './progress';
import { readGrammarFile } from './grammars';
import { UsageError } from './usageError';

export interface JudgeCliOptions {
  judge?: boolean;
  judgeUrl?: string;
  judgeModel?: string;
  judgeTimeout?: number;
  judgeGrammar?: string;
  /** A file, or false with `--no-judge-cache`. */
  judgeCache?: string | false;
  threads?: number;
  contextSize?: number;
  gpu?: string;
}

export function judgeWanted(opts: JudgeCliOptions): boolean {
  return opts.judge === true || opts.judgeUrl !== undefined;
}

interface CacheLine {
  key?: unknown;
  rubric?: unknown;
  verdict?: unknown;
}

function isVerdict(value: unknown): value is JudgeVerdict {
  const v = value as JudgeVerdict | null;
  return !!v && typeof v === 'object' && typeof v.hrm_episode === 'number' && (v.hrm_step === null || typeof v.hrm_step === 'number') && Array.isArray(v.steps);
}

/** Verdicts in a JSONL file, one a line, appended as they come (crash-safe); unreadable lines are skipped. */
export class JudgeCacheFile implements JudgeCache {
  private constructor(
    readonly file: string,
    private readonly _verdicts: Map<string, JudgeVerdict>
  ) {}

  static async open(file: string, write: Write): Promise<JudgeCacheFile> {
    const lines = await readJsonLines<CacheLine>(file, (line, reason) => write(`note: ${file} line ${line} skipped: ${reason}`));
    const verdicts = new Map<string, JudgeVerdict>();
    for (const line of lines) {
      if (typeof line.key === 'string' && line.rubric === JUDGE_RUBRIC_VERSION && isVerdict(line.verdict)) {
        verdicts.set(line.key, line.verdict);
      }
    }
    return new JudgeCacheFile(file, verdicts);
  }

  get size(): number {
    return this._verdicts.size;
  }

  get(key: string): JudgeVerdict | undefined {
    return this._verdicts.get(key);
  }

  async set(key: string, verdict: JudgeVerdict): Promise<void> {
    this._verdicts.set(key, verdict);
    await appendJsonLine(this.file, { key, rubric: JUDGE_RUBRIC_VERSION, at: new Date().toISOString(), verdict });
  }
}

export interface Judge {
  describe: string;
  judge(episode: Episode, signal?: AbortSignal): Promise<JudgeResult>;
  close(): Promise<void>;
}

/**
 * Starts the judge: `--judge-url` (a remote server), else `reuse` (the model
 * the command already runs, when no other judge model is named), else an
 * embedded host with `--judge-model` (or $DATARUS_MODEL, or the host's default).
 */
export async function startJudge(opts: JudgeCliOptions, write: Write, reuse?: ModelBackend): Promise<Judge> {
  let grammar: string | undefined;
  if (opts.judgeGrammar) {
    grammar = await readGrammarFile(opts.judgeGrammar, '--judge-grammar');
  }
  let cache: JudgeCacheFile | undefined;
  if (opts.judgeCache !== false) {
    const file = path.resolve(opts.judgeCache ?? path.join(path.dirname(await defaultEpisodesFile()), 'judge-cache.jsonl'));
    cache = await JudgeCacheFile.open(file, write);
  }
  let backend: ModelBackend;
  let owned = true;
  if (opts.judgeUrl !== undefined) {
    if (!/^https?:\/\//.test(opts.judgeUrl)) {
      throw new UsageError(`--judge-url must be an http(s) URL: ${opts.judgeUrl}`);
    }
    const apiKey = process.env.DATARUS_JUDGE_API_KEY ?? process.env.DATARUS_API_KEY ?? process.env.OPENAI_API_KEY;
    backend = await remoteBackend({ baseUrls: [opts.judgeUrl], apiKey, model: opts.judgeModel, log: write });
  } else if (reuse && opts.judgeModel === undefined) {
    backend = reuse;
    owned = false;
  } else {
    backend = await startEmbeddedHost({
      model: opts.judgeModel ?? process.env.DATARUS_MODEL,
      threads: opts.threads,
      contextSize: opts.contextSize,
      gpu: opts.gpu,
      maxEpisodes: 1,
      log: write
    });
  }
  const timeoutMs = opts.judgeTimeout !== undefined ? opts.judgeTimeout * 1000 : undefined;
  write(`judge: ${backend.describe}, rubric ${JUDGE_RUBRIC_VERSION}${cache ? `, cache ${cache.file} (${cache.size} verdict(s))` : ', no cache'}`);
  return {
    describe: backend.describe,
    judge: (episode, signal) => judgeEpisode(backend.model, episode, { timeoutMs, grammar, cache, signal }),
    close: async () => {
      if (owned) {
        await backend.close();
      }
    }
  };
}

/**
 * For `datarus export --judge`: the judge's fields of each exported episode's
 * rows (`reward_parts` with the structural reward beside `hrm_step` and
 * `hrm_episode`, and `judge`). The judge starts once the selection is known.
 */
export function judgeAnnotations(opts: JudgeCliOptions, write: Write): { annotate: (selected: StoredEpisode[]) => Promise<RowAnnotations>; close(): Promise<void> } {
  let judge: Judge | null = null;
  return {
    annotate: async selected => {
      judge = await startJudge(opts, write);
      const annotations = new Map<string, Record<string, unknown>>();
      let absent = 0;
      for (const { episode } of selected) {
        const result = await judge.judge(episode);
        const { parts, judge: about } = judgeRowFields(result);
        annotations.set(episode.id, { reward_parts: { structural: structuralRewardOf(episode), ...parts }, judge: about });
        if (!result.verdict) {
          absent++;
          write(`episode ${episode.id}: no judge score (${result.reason})`);
        }
      }
      write(`judged ${selected.length - absent} of ${selected.length} episode(s)`);
      return annotations;
    },
    close: async () => {
      await judge?.close();
    }
  };
}
