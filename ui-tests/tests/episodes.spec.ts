/**
 * Episodes when things go wrong or run side by side, and what the user can do
 * with an episode's cells afterwards, in a real JupyterLab with the fixture
 * model forced by per-turn grammars.
 */
import { expect, galata, test } from '@jupyterlab/galata';
import type { Page } from '@playwright/test';

import { answer, bar, exactly, step } from './helpers';

const SLOW = step('Wait a long time.', 'import time; time.sleep(120)');
const SUM = step('Sum one, two and three.', 'print(1 + 2 + 3)');
const WHO = step('Say which notebook this is.', 'import time; time.sleep(3); print(who)');
const FAILING = step('Use a name that does not exist.', 'print(undefined_name)');

/** Analyze in the current notebook, through the command (the dialog has tests of its own). */
async function analyze(page: Page, question: string): Promise<void> {
  await page.evaluate(q => void (window as any).jupyterapp.commands.execute('datarus:analyze', { question: q }), question);
}

async function cellMetadata(page: Page): Promise<any[]> {
  return page.evaluate(() => {
    const panel = (window as any).jupyterapp.shell.currentWidget;
    return panel.content.widgets.map((w: any) => w.model.getMetadata('datarus') ?? null);
  });
}

async function hostPid(page: Page): Promise<number> {
  const status = await (await page.request.get('/datarus/api/status')).json();
  expect(typeof status.pid).toBe('number');
  return status.pid;
}

test.describe('Kernel restart mid-episode', () => {
  test.use({
    kernels: null, // Galata's kernel tracking and a restart do not mix (see the Stop test)
    mockSettings: { ...galata.DEFAULT_SETTINGS, 'datarus-jupyterlab:agent': { turnGrammars: [exactly(SLOW), exactly(answer('never'))], approval: 'auto' } }
  });

  test('ends the episode with the reason, and the notebook stays usable', async ({ page }) => {
    test.setTimeout(180000);
    await page.goto();
    await page.notebook.createNew('restart.ipynb');
    await page.notebook.setCell(0, 'code', 'mine = 41');
    await page.notebook.runCell(0);
    await analyze(page, 'Wait.');
    const cell = page.locator('.jp-CodeCell', { hasText: 'time.sleep(120)' });
    await expect(cell.locator('.jp-InputPrompt')).toHaveText('[*]:', { timeout: 60000 });
    void page.evaluate(() => (window as any).jupyterapp.commands.execute('notebook:restart-kernel'));
    const dialog = page.locator('.jp-Dialog', { hasText: 'Restart Kernel?' });
    await dialog.locator('.jp-mod-accept').click();
    await expect(bar(page)).toContainText('kernel restarted', { timeout: 60000 });
    await expect(bar(page)).toHaveAttribute('data-state', 'ended');
    await expect(page.locator('.jp-MarkdownCell', { hasText: 'never' })).toHaveCount(0);
    // The user's cell and the step's cells are all still there; the kernel runs new code.
    const metadata = await cellMetadata(page);
    expect(metadata.filter(m => m).map(m => m.role)).toEqual(['thought', 'code']);
    expect(await page.notebook.getCellTextInput(0)).toBe('mine = 41');
    await page.notebook.addCell('code', 'print(40 + 2)');
    await page.notebook.runCell(metadata.length);
    await expect(page.locator('.jp-CodeCell', { hasText: 'print(40 + 2)' }).locator('.jp-OutputArea-output')).toHaveText('42', { timeout: 60000 });
    await page.screenshot({ path: '../test-artifacts/episode-kernel-restarted.png' });
  });
});

test.describe('Host killed mid-episode', () => {
  test.use({
    mockSettings: { ...galata.DEFAULT_SETTINGS, 'datarus-jupyterlab:agent': { turnGrammars: [exactly(SUM), exactly(answer('6'))], approval: 'ask' } }
  });

  test('the episode fails with a visible reason, the notebook is intact, and the host comes back', async ({ page }) => {
    test.setTimeout(240000);
    await page.notebook.createNew('killed.ipynb');
    await expect(page.locator('.jp-DatarusStatus')).toHaveAttribute('data-datarus-status', 'ready', { timeout: 120000 });
    await analyze(page, 'Sum them.');
    await expect(bar(page).getByRole('button', { name: 'Run', exact: true })).toBeVisible({ timeout: 60000 });
    // Freeze the host so the next turn's request is surely in flight when it dies, then kill it by its PID.
    const pid = await hostPid(page);
    process.kill(pid, 'SIGSTOP');
    try {
      await bar(page).getByRole('button', { name: 'Run', exact: true }).click();
      await expect(page.locator('.jp-CodeCell', { hasText: 'print(1 + 2 + 3)' }).locator('.jp-OutputArea-output')).toHaveText('6', { timeout: 60000 });
      await page.waitForTimeout(3000); // the loop asks the frozen host for the next turn
    } finally {
      process.kill(pid, 'SIGKILL');
    }
    await expect(bar(page)).toHaveAttribute('data-outcome', 'failed', { timeout: 60000 });
    await expect(bar(page)).toContainText(/failed: .*model host/);
    await expect(bar(page).locator('.jp-DatarusEpisodeBar-label')).toHaveAttribute('title', /model host/);
    expect((await cellMetadata(page)).filter(m => m).map(m => m.role)).toEqual(['thought', 'code']);
    await page.screenshot({ path: '../test-artifacts/episode-host-killed.png' });
    // The server extension starts a new host on the next request.
    await expect(page.locator('.jp-DatarusStatus')).toHaveAttribute('data-datarus-status', 'ready', { timeout: 120000 });
    expect(await hostPid(page)).not.toBe(pid);
  });
});

test.describe('Two notebooks', () => {
  test.use({
    mockSettings: { ...galata.DEFAULT_SETTINGS, 'datarus-jupyterlab:agent': { turnGrammars: [exactly(WHO), exactly(answer('Done.'))], approval: 'auto' } }
  });

  test('analyze at once without cross-talk', async ({ page, tmpPath }) => {
    test.setTimeout(240000);
    // Both notebooks through the contents API and opened by path (a second createNew lost the file browser's folder).
    for (const name of ['left', 'right']) {
      const content = {
        cells: [{ cell_type: 'code', source: `who = '${name}'`, metadata: {}, outputs: [], execution_count: null }],
        metadata: { kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' } },
        nbformat: 4,
        nbformat_minor: 5
      };
      const put = await page.request.put(`/api/contents/${tmpPath}/${name}.ipynb`, { data: { type: 'notebook', format: 'json', content } });
      expect(put.ok()).toBe(true);
      await page.evaluate(path => (window as any).jupyterapp.commands.execute('docmanager:open', { path }), `${tmpPath}/${name}.ipynb`);
      await expect(page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')).toHaveCount(1);
      await page.notebook.runCell(0);
    }
    await page.notebook.activate('left.ipynb');
    await analyze(page, 'Which notebook is this?');
    await page.notebook.activate('right.ipynb');
    await analyze(page, 'Which notebook is this?');
    const episodes = new Set<string>();
    for (const name of ['right', 'left']) {
      await page.notebook.activate(`${name}.ipynb`);
      await expect(bar(page)).toContainText('answered after 1 step', { timeout: 120000 });
      const code = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell', { hasText: 'print(who)' });
      await expect(code).toHaveCount(1);
      await expect(code.locator('.jp-OutputArea-output')).toHaveText(name);
      const metadata = (await cellMetadata(page)).filter(m => m);
      expect(metadata.map(m => m.role)).toEqual(['thought', 'code', 'answer']);
      expect(new Set(metadata.map(m => m.episode)).size).toBe(1);
      episodes.add(metadata[0].episode);
    }
    expect(episodes.size).toBe(2);
  });
});

test.describe('Feedback and edits', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { turnGrammars: [exactly(SUM), exactly(answer('6'))], approval: 'auto', logEpisodes: true }
    }
  });

  test('thumbs and a later edit reach the episode log as KTO labels and a DPO pair', async ({ page }) => {
    test.setTimeout(180000);
    await page.notebook.createNew('feedback.ipynb');
    await analyze(page, 'Sum one, two and three for feedback.');
    await expect(bar(page)).toContainText('· logged', { timeout: 120000 });
    const metadata = await cellMetadata(page);
    const episode = metadata[1].episode;
    // The model's name, from the host's status, not the backend's.
    expect(metadata[1].model).toBe('datarus-test-tiny');

    const codeIndex = metadata.findIndex(m => m?.role === 'code');
    await page.notebook.selectCells(codeIndex);
    await page.evaluate(() => (window as any).jupyterapp.commands.execute('datarus:feedback-up'));
    await expect(page.locator('.Toastify__toast', { hasText: 'recorded for step 1' })).toBeVisible();
    await page.notebook.selectCells(metadata.findIndex(m => m?.role === 'answer'));
    await page.evaluate(() => (window as any).jupyterapp.commands.execute('datarus:feedback-down'));
    await expect(page.locator('.Toastify__toast', { hasText: 'recorded for the episode' })).toBeVisible();
    await page.notebook.setCell(codeIndex, 'code', 'print(sum([1, 2, 3]))');

    const rows = async (format: string) =>
      ((await (await page.request.post('/datarus/api/log/export', { data: { format } })).json()).rows as any[]).filter(r => r.episode_id === episode);
    // The edit is logged a few seconds after the last keystroke.
    await expect.poll(async () => (await rows('dpo')).length, { timeout: 30000 }).toBe(1);
    const [pair] = await rows('dpo');
    expect(pair.chosen[0].content).toContain('print(sum([1, 2, 3]))');
    expect(pair.rejected[0].content).toContain('print(1 + 2 + 3)');
    const labels = (await rows('kto')).map(r => [r.step, r.label]);
    expect(labels).toEqual(expect.arrayContaining([[0, true], [-1, false]]));
    expect(labels).toHaveLength(2);
  });
});
