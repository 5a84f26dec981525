import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { exportRows, failedSteps, filtersFor, selectEpisodes } from '../../src/episode/export';
import type { Episode, EpisodeStep, StoredEpisode } from '../../src/episode/types';
import { writeExport } from '../../src/host/episodes/exportFiles';
import { Redactor } from '../../src/episode/redact';

function step(index: number, status: EpisodeStep['status']): EpisodeStep {
  const now = new Date().toISOString();
  return {
    index,
    thought: `Step ${index}.`,
    code: `print(${index})`,
    status,
    observation: status === 'error' ? 'SyntaxError: invalid syntax' : `${index}`,
    error: status === 'error' ? { ename: 'SyntaxError', evalue: 'invalid syntax' } : undefined,
    violations: [],
    raw: '',
    startedAt: now,
    endedAt: now,
    modelMs: 1,
    kernelMs: 1
  };
}

function stored(id: string, status: Episode['status'], steps: EpisodeStep[]): StoredEpisode {
  const now = new Date().toISOString();
  const episode: Episode = {
    schemaVersion: 1,
    id,
    question: `Question of ${id}?`,
    model: 'datarus-test-tiny',
    startedAt: now,
    endedAt: now,
    status,
    steps,
    answer: status === 'answered' ? { thought: 'Done.', text: '6' } : null
  } as Episode;
  return { episode, feedback: [], edits: [] };
}

const answered = stored('ep-answered', 'answered', [step(0, 'error'), step(1, 'ok')]);
const errorLimit = stored('ep-errors', 'error_limit', [0, 1, 2, 3, 4].map(i => step(i, 'error')));

describe('SFT takes answered episodes by default', () => {
  it('drops an episode that ended at the error limit', () => {
    expect(selectEpisodes([answered, errorLimit], filtersFor('sft')).map(s => s.episode.id)).toEqual(['ep-answered']);
  });

  it('keeps it when asked, and other formats are unchanged', () => {
    expect(selectEpisodes([answered, errorLimit], filtersFor('sft', { includeUnanswered: true }))).toHaveLength(2);
    expect(selectEpisodes([answered, errorLimit], filtersFor('sft', { finished: false })).map(s => s.episode.id)).toEqual(['ep-errors']);
    expect(selectEpisodes([answered, errorLimit], filtersFor('tagged'))).toHaveLength(2);
  });

  it('rows say how many steps failed to execute', () => {
    expect(failedSteps(errorLimit.episode)).toBe(5);
    const rows = exportRows([answered, errorLimit], 'tagged') as { episode_id: string; failed_steps: number }[];
    expect(rows.map(r => [r.episode_id, r.failed_steps])).toEqual([
      ['ep-answered', 1],
      ['ep-errors', 5]
    ]);
  });
});

describe('writeExport never writes an empty file', () => {
  const dir = () => mkdtempSync(path.join(os.tmpdir(), 'datarus-export-unit-'));

  it('refuses an empty log, and the same name works once there is something to write', async () => {
    const target = path.join(dir(), 'sft.jsonl');
    await expect(writeExport([], 'sft', target, {}, new Redactor())).rejects.toThrow(/nothing to export: the episode log is empty\. Nothing was written to .*sft\.jsonl/);
    expect(existsSync(target)).toBe(false);
    const summary = await writeExport([answered], 'sft', target, {}, new Redactor());
    expect(summary.rows).toBe(1);
    expect(readFileSync(target, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('refuses when no episode is answered, naming the SFT default', async () => {
    const target = path.join(dir(), 'sft.jsonl');
    await expect(writeExport([errorLimit], 'sft', target, {}, new Redactor())).rejects.toThrow(/none of the 1 logged episode\(s\) match the filters \(SFT takes answered episodes only/);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses when the episodes give no rows of the format (no edits: no DPO pairs)', async () => {
    const target = path.join(dir(), 'dpo.jsonl');
    await expect(writeExport([answered], 'dpo', target, {}, new Redactor())).rejects.toThrow(/give dpo rows/);
    expect(existsSync(target)).toBe(false);
  });
});
