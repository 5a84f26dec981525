/**
 * Analyze in a real JupyterLab: the fixture model (forced by per-turn grammars
 * set through the settings) writes cells that run in the notebook's live kernel.
 */
import { expect, galata, test } from '@jupyterlab/galata';

import { analyze, exactly } from './helpers';

const CODE = "import pandas as pd; df = pd.DataFrame({'x': [1, 2, 3]}); print(df.x.sum())";
const STEP = `<step>\n<thought>Build the frame and sum x.</thought>\n<action>python_executor</action>\n<action_input>\n${CODE}\n</action_input>\n</step>`;
const ANSWER = '<stop_analysis>\n<thought>The printed sum is 6.</thought>\n<answer>The sum of x is 6.</answer>\n</stop_analysis>';
const SLOW = '<step>\n<thought>Wait a long time.</thought>\n<action>python_executor</action>\n<action_input>\nimport time; time.sleep(120)\n</action_input>\n</step>';

/** Episodes the host still holds (each Analyze run holds one until its loop ends). */
async function activeEpisodes(request: any): Promise<number> {
  return (await (await request.get('/datarus/api/status')).json()).episodes?.active ?? 0;
}

test.describe('Analyze', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { turnGrammars: [exactly(STEP), exactly(ANSWER)], approval: 'auto' }
    }
  });

  test('writes and runs the model’s cells in the live kernel and ends with the answer', async ({ page, request, tmpPath }) => {
    test.setTimeout(300000); // may wait for the model to load on a fresh server
    await page.notebook.createNew('analyze.ipynb');
    await page.notebook.setCell(0, 'code', 'rows = 3');
    await page.notebook.runCell(0);
    await analyze(page, 'What is the sum of x?');

    const answer = page.locator('.jp-MarkdownCell', { hasText: 'The sum of x is 6.' });
    await expect(answer).toBeVisible({ timeout: 60000 });
    const bar = page.locator('.jp-DatarusEpisodeBar');
    await expect(bar).toContainText('answered after 1 step');

    const code = page.locator('.jp-CodeCell', { hasText: 'df.x.sum()' });
    await expect(code).toHaveCount(1);
    await expect(code.locator('.jp-OutputArea-output')).toHaveText('6');
    await expect(page.locator('.jp-MarkdownCell', { hasText: 'Build the frame and sum x.' })).toBeVisible();
    await page.screenshot({ path: '../test-artifacts/analyze-answered.png' });

    // The saved notebook records the episode: every agent cell carries its provenance.
    await page.notebook.save();
    const response = await request.get(`/api/contents/${tmpPath}/analyze.ipynb?content=1`);
    const notebook = (await response.json()).content;
    const roles = notebook.cells.map((c: any) => c.metadata.datarus?.role ?? null);
    expect(roles[0]).toBeNull(); // the user's own cell is left alone
    expect(roles.filter((r: string | null) => r !== null)).toEqual(['thought', 'code', 'answer']);
    const episodes = new Set(notebook.cells.filter((c: any) => c.metadata.datarus).map((c: any) => c.metadata.datarus.episode));
    expect(episodes.size).toBe(1);
    const codeCell = notebook.cells.find((c: any) => c.metadata.datarus?.role === 'code');
    expect(codeCell.metadata.datarus).toMatchObject({ step: 0, model: 'datarus-test-tiny' });
    expect(codeCell.outputs[0]).toMatchObject({ output_type: 'stream', text: '6\n' });
  });
});

test.describe('Analyze with approval', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { turnGrammars: [exactly(STEP), exactly(ANSWER)], approval: 'ask' }
    }
  });

  test('the user edits the cell, then runs it', async ({ page }) => {
    test.setTimeout(300000); // may wait for the model to load on a fresh server
    await page.notebook.createNew('approval.ipynb');
    await analyze(page, 'What is the sum of x?');
    const bar = page.locator('.jp-DatarusEpisodeBar');
    await expect(bar.getByRole('button', { name: 'Run', exact: true })).toBeVisible({ timeout: 60000 });
    await expect(bar).toContainText('waiting for you');
    // Nothing ran yet: the cell is there, without output.
    const code = page.locator('.jp-CodeCell', { hasText: 'df.x.sum()' });
    await expect(code.locator('.jp-OutputArea-output')).toHaveCount(0);
    // Edit: multiply by ten.
    const index = await page.evaluate(() => {
      const cells = Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'));
      return cells.findIndex(c => c.textContent?.includes('df.x.sum()'));
    });
    await page.notebook.setCell(index, 'code', "import pandas as pd; df = pd.DataFrame({'x': [1, 2, 3]}); print(df.x.sum() * 10)");
    await bar.getByRole('button', { name: 'Run', exact: true }).click();
    await expect(page.locator('.jp-CodeCell', { hasText: 'sum() * 10' }).locator('.jp-OutputArea-output')).toHaveText('60', { timeout: 60000 });
    await expect(bar).toContainText('answered', { timeout: 60000 });
    await page.screenshot({ path: '../test-artifacts/analyze-approval.png' });
  });
});

test.describe('Stop', () => {
  test.use({
    // Galata's kernel tracking chokes on the empty 204 reply of an interrupt (see ARCHITECTURE.md): do not mock kernels here.
    kernels: null,
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { turnGrammars: [exactly(SLOW), exactly(ANSWER)], approval: 'auto' }
    }
  });

  test('Stop during a long-running cell interrupts the kernel and ends the episode', async ({ page, request }) => {
    test.setTimeout(300000); // the first test of a fresh server also waits for the host to start
    // Without Galata's kernel tracking, a first test can load the page before its folder exists: load it again.
    await page.goto();
    await page.notebook.createNew('stop.ipynb');
    await analyze(page, 'Wait.');
    const cell = page.locator('.jp-CodeCell', { hasText: 'time.sleep(120)' });
    await expect(cell).toBeVisible({ timeout: 60000 });
    await expect(cell.locator('.jp-InputPrompt')).toHaveText('[*]:', { timeout: 30000 });
    const bar = page.locator('.jp-DatarusEpisodeBar');
    await bar.getByRole('button', { name: 'Stop' }).click();
    await expect(bar).toContainText('stopped', { timeout: 30000 });
    await expect(cell.locator('.jp-OutputArea-output')).toContainText('KeyboardInterrupt');
    // The episode ended, not just its bar: the loop returned and the host let go of the episode,
    // so nothing is left that could still write the answer.
    await expect(bar).toHaveAttribute('data-state', 'ended');
    await expect.poll(() => activeEpisodes(request), { timeout: 30000 }).toBe(0);
    await expect(page.locator('.jp-MarkdownCell', { hasText: 'The sum of x is 6.' })).toHaveCount(0);
    await page.screenshot({ path: '../test-artifacts/analyze-stopped.png' });
  });
});

test.describe('Lifecycle', () => {
  test.use({
    kernels: null,
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { turnGrammars: [exactly(SLOW), exactly(ANSWER)], approval: 'auto' }
    }
  });

  test('closing the notebook mid-episode ends it quietly, and another notebook can Analyze', async ({ page, request }) => {
    test.setTimeout(300000);
    await page.goto(); // see the Stop test
    await page.notebook.createNew('closed.ipynb');
    await analyze(page, 'Wait.');
    await expect(page.locator('.jp-CodeCell', { hasText: 'time.sleep(120)' }).locator('.jp-InputPrompt')).toHaveText('[*]:', { timeout: 60000 });
    await page.notebook.close(true);
    await expect(page.locator('.jp-NotebookPanel')).toHaveCount(0);
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    // The first episode ended: the host let go of it (its loop returned and ended the episode).
    await expect.poll(() => activeEpisodes(request), { timeout: 60000 }).toBe(0);
    // The host and the extension are still up: a new notebook analyzes and answers.
    await page.notebook.createNew('after.ipynb');
    await analyze(page, 'Wait again.');
    const bar = page.locator('.jp-DatarusEpisodeBar');
    await expect(page.locator('.jp-CodeCell', { hasText: 'time.sleep(120)' })).toBeVisible({ timeout: 60000 });
    await bar.getByRole('button', { name: 'Stop' }).click();
    await expect(bar).toContainText('stopped', { timeout: 30000 });
    await expect(page.locator('.jp-DatarusStatus')).toHaveAttribute('data-datarus-status', 'ready');
  });
});
