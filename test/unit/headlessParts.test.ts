/** The pure and file-level parts of the headless commands. */
import { mkdtempSync, promises as fs, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Episode, EpisodeStep } from '../../src/episode/types';
import { analyzeNotebook } from '../../src/episode/notebookCells';
import { errorsRecovered } from '../../src/headless/episode';
import { appendJsonLine, readJsonLines } from '../../src/host/episodes/jsonl';
import { parseJupyterUrl, safeSegment } from '../../src/headless/kernels';
import { FRAMES_EXPRESSION } from '../../src/agent/context';
import { dataFilesExpression } from '../../src/agent/dataFiles';
import { fenceData } from '../../src/agent/untrusted';
import { headlessContext } from '../../src/headless/context';
import { fileInside } from '../../src/headless/dataFiles';
import { loadGrammars } from '../../src/headless/grammars';

const stepOf = (index: number, status: EpisodeStep['status'], extra: Partial<EpisodeStep> = {}): EpisodeStep => ({
  index,
  thought: `thought ${index}`,
  code: `print(${index})`,
  status,
  observation: String(index),
  violations: [],
  raw: '',
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:00:01.000Z',
  modelMs: 1,
  kernelMs: 1,
  ...extra
});

const episodeOf = (steps: EpisodeStep[], answer: Episode['answer']): Episode => ({
  schemaVersion: 1,
  id: 'ep-1',
  question: 'Q?',
  model: 'm',
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:00:09.000Z',
  status: answer ? 'answered' : 'failed',
  steps,
  answer
});

describe('errors recovered', () => {
  it('counts failed steps the episode got past, not those it ended on', () => {
    expect(errorsRecovered(episodeOf([stepOf(0, 'error'), stepOf(1, 'invalid'), stepOf(2, 'ok')], null))).toBe(2);
    expect(errorsRecovered(episodeOf([stepOf(0, 'ok'), stepOf(1, 'error')], null))).toBe(0);
    expect(errorsRecovered(episodeOf([stepOf(0, 'timeout')], { thought: '', text: 'x' }))).toBe(1);
    expect(errorsRecovered(episodeOf([stepOf(0, 'skipped'), stepOf(1, 'ok')], null))).toBe(0);
  });
});

describe('the notebook of a headless run', () => {
  it('has the cells and provenance Analyze writes: thought, code with outputs, answer; invalid turns leave no cells', () => {
    const episode = episodeOf(
      [
        stepOf(0, 'invalid'),
        stepOf(1, 'ok', { outputs: [{ output_type: 'stream', name: 'stdout', text: '1\n' }] }),
        stepOf(2, 'skipped', { thought: 'an <img src="http://x/y.png"> here' })
      ],
      { thought: 'It printed 1.', text: 'One.' }
    );
    const nb = analyzeNotebook(episode) as any;
    expect(nb.nbformat).toBe(4);
    expect(nb.cells.map((c: any) => [c.cell_type, c.metadata.datarus?.role ?? null, c.metadata.datarus?.step ?? null])).toEqual([
      ['markdown', null, null],
      ['markdown', 'thought', 1],
      ['code', 'code', 1],
      ['markdown', 'thought', 2],
      ['code', 'code', 2],
      ['markdown', 'answer', null]
    ]);
    expect(nb.cells[1].source).toBe('**Step 2** · thought 1');
    expect(nb.cells[2]).toMatchObject({ execution_count: 1, outputs: [{ output_type: 'stream', name: 'stdout', text: '1\n' }] });
    expect(nb.cells[2].metadata.datarus).toEqual({ episode: 'ep-1', step: 1, role: 'code', model: 'm', created: '2026-01-01T00:00:00.000Z' });
    expect(nb.cells[4].metadata.datarus.skipped).toBe(true);
    expect(nb.cells[4].outputs).toEqual([]);
    // Model text that could load a remote resource is neutralized, as in the browser.
    expect(nb.cells[3].source).not.toContain('<img');
    expect(nb.cells[5].source).toBe('**Answer.** One.\n\n<details><summary>Reasoning</summary>\n\nIt printed 1.\n\n</details>');
  });
});

describe('result files', () => {
  it('appends whole lines, skips a cut-off last line on reading, and starts the next row on a line of its own', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-jsonl-'));
    const file = path.join(dir, 'sub', 'results.jsonl');
    await appendJsonLine(file, { id: '1' });
    await fs.appendFile(file, '{"id": "2", "cut');
    const skipped: string[] = [];
    expect(await readJsonLines(file, (line, reason) => skipped.push(`${line}: ${reason}`))).toEqual([{ id: '1' }]);
    expect(skipped).toEqual(['2: cut-off last line (a write was interrupted)']);
    await appendJsonLine(file, { id: '3' });
    expect(await readJsonLines(file)).toEqual([{ id: '1' }, { id: '3' }]);
    expect(await readJsonLines(path.join(dir, 'absent.jsonl'))).toEqual([]);
  });
});

describe('inputs', () => {
  it('keeps data files inside the data folder', () => {
    const root = path.resolve('/data/bench');
    expect(fileInside(root, 'a.csv')).toBe(path.join(root, 'a.csv'));
    expect(fileInside(root, 'sub/a.csv')).toBe(path.join(root, 'sub', 'a.csv'));
    expect(() => fileInside(root, '../secret.csv')).toThrow('outside the data folder');
    expect(() => fileInside(root, '/etc/passwd')).toThrow('outside the data folder');
    expect(() => fileInside(root, 'sub/../../x.csv')).toThrow('outside the data folder');
  });

  it('reads per-turn grammars: a list for every task, or lists by task id with a default', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-grammar-'));
    const list = path.join(dir, 'list.json');
    writeFileSync(list, JSON.stringify(['root ::= "a"', 'root ::= "b"']));
    const perTurn = (await loadGrammars(list))('any') as (turn: number) => string;
    expect([0, 1, 5].map(perTurn)).toEqual(['root ::= "a"', 'root ::= "b"', 'root ::= "b"']);
    const byTask = path.join(dir, 'tasks.json');
    writeFileSync(byTask, JSON.stringify({ '7': ['root ::= "7"'], '*': ['root ::= "other"'] }));
    const grammars = await loadGrammars(byTask);
    expect((grammars('7') as (t: number) => string)(0)).toBe('root ::= "7"');
    expect((grammars('8') as (t: number) => string)(0)).toBe('root ::= "other"');
    const gbnf = path.join(dir, 'every.gbnf');
    writeFileSync(gbnf, 'root ::= "x"');
    expect((await loadGrammars(gbnf))('1')).toBe('root ::= "x"');
    expect((await loadGrammars('datarus'))('1')).toBe('datarus');
    expect((await loadGrammars(undefined))('1')).toBeUndefined();
    writeFileSync(list, '{"1": "not a list"}');
    await expect(loadGrammars(list)).rejects.toThrow('must be a list of GBNF texts');
    await expect(loadGrammars(path.join(dir, 'absent.json'))).rejects.toThrow('cannot read');
  });

  it('takes a Jupyter token from the URL and keeps folder names to one safe segment', () => {
    expect(parseJupyterUrl('http://node7:8888/lab?token=abc', 'dflt')).toEqual({ url: 'http://node7:8888/lab/', token: 'abc' });
    expect(parseJupyterUrl('https://hub.example/user/me', 'dflt')).toEqual({ url: 'https://hub.example/user/me/', token: 'dflt' });
    expect(() => parseJupyterUrl('ftp://x', '')).toThrow('http or https');
    expect(() => parseJupyterUrl('not a url', '')).toThrow('not a URL');
    expect(safeSegment('../../etc/passwd')).toBe('etc_passwd');
    expect(safeSegment('task 12/a')).toBe('task_12_a');
    expect(safeSegment('...')).toBe('task');
  });

  it('reads the context through the kernel as Analyze does, and none from a runner that cannot inspect', async () => {
    const asked: string[] = [];
    const runner = {
      run: async () => ({ status: 'ok' as const, outputs: [], durationMs: 0 }),
      inspect: async (e: string) => (asked.push(e), e === FRAMES_EXPRESSION ? '[]' : '{"files": [{"name": "a.csv", "rows": 2, "dtypes": {"x": "int64"}, "columns": 1}], "listed": [], "total": 1}')
    };
    expect(await headlessContext('What is the mean of x?', runner)).toBe(fenceData("Data files in the kernel's working folder:\n- 'a.csv': 2 rows; columns 'x': int64"));
    expect(asked).toEqual([dataFilesExpression(null), FRAMES_EXPRESSION]);
    expect(await headlessContext('What is the mean of x?', { run: runner.run })).toBe('');
  });
});
