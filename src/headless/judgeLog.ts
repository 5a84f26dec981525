/**
 * `datarus score --judge`: the judge's scores of recorded episodes (the
 * episode log, or `--log FILE`; `--episode ID` for some of them), one JSON line
 * per episode on stdout with the structural reward beside them. An episode the
 * judge could not score gets its line too, with the reason and no score.
 */
import { judgeRowFields } from '../agent/judge';
import { structuralRewardOf } from '../episode/export';
import { readEpisodeLog } from './episodeLog';
import { JudgeCliOptions, startJudge } from './judge';
import type { Write } from './progress';
import { interruptible } from './interrupt';
import { UsageError } from './usageError';

export interface JudgeLogOptions extends JudgeCliOptions {
  log?: string;
  episode?: string[];
}

export async function judgeLogCommand(opts: JudgeLogOptions, out: Write, write: Write): Promise<{ judged: number; absent: number }> {
  const { file, episodes } = await readEpisodeLog(opts.log, write, 'nothing to judge');
  let chosen = episodes.map(s => s.episode);
  if (opts.episode?.length) {
    const missing = opts.episode.filter(id => !chosen.some(e => e.id === id));
    if (missing.length) {
      throw new UsageError(`no episode ${missing.join(', ')} in ${file}`);
    }
    chosen = chosen.filter(e => opts.episode!.includes(e.id));
  }
  if (chosen.length === 0) {
    throw new UsageError(`${file} holds no episode to judge`);
  }
  const judge = await startJudge(opts, write);
  const ctrlC = interruptible(write);
  let judged = 0;
  let absent = 0;
  try {
    for (const episode of chosen) {
      if (ctrlC.interrupted()) {
        break;
      }
      const result = await judge.judge(episode, ctrlC.signal);
      const { parts, judge: about } = judgeRowFields(result);
      out(JSON.stringify({ episode_id: episode.id, question: episode.question, status: episode.status, reward_parts: { structural: structuralRewardOf(episode), ...parts }, judge: about }));
      if (result.verdict) {
        judged++;
        write(`episode ${episode.id}: hrm_step ${parts.hrm_step ?? '—'} · hrm_episode ${parts.hrm_episode}${result.cached ? ' (cached)' : ''}`);
      } else {
        absent++;
        write(`episode ${episode.id}: no judge score (${result.reason})`);
      }
    }
  } finally {
    ctrlC.release();
    await judge.close();
  }
  write(`${judged} episode(s) judged${absent ? `, ${absent} without a score (the reason is on their line)` : ''}`);
  if (ctrlC.interrupted()) {
    process.exitCode = 130;
  }
  return { judged, absent };
}
