/** The judge's cache file: verdicts by key, appended whole lines, only of the current rubric. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { JUDGE_RUBRIC_VERSION } from '../../src/episode/judge';
import { JudgeCacheFile } from '../../src/headless/judge';

const VERDICT = { hrm_step: 0.5, hrm_episode: 0.75, steps: [{ step: 0, sound: 0.5, uses_observation: 0.5 }], answer_follows: 1, complete: 0.5 };

describe('JudgeCacheFile', () => {
  it('keeps verdicts across opens, skipping other rubrics, malformed verdicts and a cut-off line', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-judge-cache-')), 'cache.jsonl');
    const notes: string[] = [];
    const first = await JudgeCacheFile.open(file, line => notes.push(line));
    expect(first.size).toBe(0);
    await first.set('k1', VERDICT);
    expect(first.get('k1')).toEqual(VERDICT);
    writeFileSync(
      file,
      readFileSync(file, 'utf8') +
        JSON.stringify({ key: 'old', rubric: 'datarus-hrm-0', verdict: VERDICT }) + '\n' +
        JSON.stringify({ key: 'bad', rubric: JUDGE_RUBRIC_VERSION, verdict: { hrm_episode: 'high' } }) + '\n' +
        '{"key": "cut", "rub',
      { flag: 'w' }
    );
    const second = await JudgeCacheFile.open(file, line => notes.push(line));
    expect(second.size).toBe(1);
    expect(second.get('k1')).toEqual(VERDICT);
    expect(second.get('old')).toBeUndefined();
    expect(second.get('bad')).toBeUndefined();
    expect(notes).toEqual([expect.stringMatching(/line 4 skipped: cut-off last line/)]);
    // The next verdict starts on a line of its own after the cut-off one.
    await second.set('k2', VERDICT);
    expect((await JudgeCacheFile.open(file, () => undefined)).get('k2')).toEqual(VERDICT);
  });
});
