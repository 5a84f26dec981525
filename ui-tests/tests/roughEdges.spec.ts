/**
 * What a newcomer met in the browser: the approval notice, the error-limit
 * message, removing an episode's cells, skipped cells, cut-off thoughts,
 * remote images in answers, the Analyze field, and Reflect's progress and Stop.
 */
import { expect, galata, test } from '@jupyterlab/galata';
import type { Page } from '@playwright/test';

import { analyzeFromDialog, answer, bar, exactly, step } from './helpers';

const SUM = step('Sum one, two and three.', 'print(1 + 2 + 3)');
// Three different failing steps: the same code three times would end the episode as stuck, not at the error limit.
const FAILING = [1, 2, 3].map(i => step('Use a name that does not exist.', `print(undefined_name_${i})`));
const REMOTE = 'datarus-remote.invalid';

async function roles(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    (window as any).jupyterapp.shell.currentWidget.content.widgets.map((w: any) => {
      const meta = w.model.getMetadata('datarus');
      return meta ? `${meta.role}${meta.skipped ? ':skipped' : ''}` : 'user';
    })
  );
}

test.describe('Approval notice and answers', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': {
        turnGrammars: [exactly(SUM), exactly(answer(`The sum is 6. <img src="https://${REMOTE}/pixel.png?leak=1"> ![chart](https://${REMOTE}/chart.png)`))],
        approval: 'auto'
      }
    }
  });

  test('the first Analyze in a notebook says what approval "auto" means, once; a remote image in the answer never loads', async ({ page }) => {
    test.setTimeout(180000);
    const remoteRequests: string[] = [];
    await page.route(`**/${REMOTE}/**`, route => {
      remoteRequests.push(route.request().url());
      void route.abort();
    });
    await page.notebook.createNew('notice.ipynb');
    // The question field is wide enough for its placeholder.
    await page.locator('.jp-NotebookPanel-toolbar [data-command="datarus:analyze"]').click();
    const input = page.locator('.jp-Dialog input');
    const fits = await input.evaluate((node: HTMLInputElement) => {
      const context = document.createElement('canvas').getContext('2d')!;
      context.font = getComputedStyle(node).font;
      return context.measureText(node.placeholder).width < node.clientWidth;
    });
    expect(fits).toBe(true);
    await page.screenshot({ path: '../test-artifacts/analyze-dialog.png' });
    await input.fill('What is the sum?');
    await page.locator('.jp-Dialog').getByRole('button', { name: 'Analyze' }).click();

    const notice = page.locator('.Toastify__toast', { hasText: 'runs the code it writes' });
    await expect(notice).toBeVisible({ timeout: 30000 });
    await expect(notice).toContainText('in this kernel without asking you');
    await expect(notice.getByRole('button', { name: 'Ask me first' })).toBeVisible();
    await expect(page.locator('.jp-Dialog')).toHaveCount(0); // non-modal
    await page.screenshot({ path: '../test-artifacts/approval-notice.png' });
    await notice.getByRole('button', { name: /close|hide|dismiss/i }).first().click();
    await expect(notice).toHaveCount(0);
    await expect(bar(page)).toContainText('answered after 1 step', { timeout: 120000 });
    const answerCell = page.locator('.jp-MarkdownCell', { hasText: 'The sum is 6.' });
    await expect(answerCell).toBeVisible();
    await expect(answerCell.locator('.jp-RenderedMarkdown img')).toHaveCount(0);
    await expect(answerCell.locator('.jp-RenderedMarkdown')).toContainText(`<img src="https://${REMOTE}/pixel.png?leak=1">`);
    await page.screenshot({ path: '../test-artifacts/remote-image-neutralized.png' });

    // A second Analyze in the same notebook does not repeat the notice.
    await page.notebook.selectCells(0);
    await analyzeFromDialog(page, 'And again?');
    await expect(bar(page)).toContainText('answered after 1 step', { timeout: 120000 });
    await expect(page.locator('.Toastify__toast', { hasText: 'runs the code it writes' })).toHaveCount(0);
    expect(remoteRequests).toEqual([]);
  });
});

test.describe('Error limit', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { turnGrammars: FAILING.map(exactly), approval: 'auto', maxConsecutiveErrors: 3 }
    }
  });

  test('one compact, dismissable sentence; the episode’s cells go in one undoable step', async ({ page }) => {
    test.setTimeout(180000);
    await page.notebook.createNew('errors.ipynb');
    await page.notebook.setCell(0, 'code', 'kept = True');
    await analyzeFromDialog(page, 'Fail three times.');
    await expect(bar(page)).toHaveAttribute('data-outcome', 'error_limit', { timeout: 120000 });
    const label = bar(page).locator('.jp-DatarusEpisodeBar-label');
    // Nothing was printed, so the model was asked for its best answer; the forced model wrote none, and the sentence says so.
    await expect(label).toHaveText(
      'Datarus · stopped: 3 steps in a row raised errors; no step printed anything, and asked for its best answer, it wrote none'
    );
    // The kernel name keeps its place in the toolbar.
    const toolbar = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar');
    await expect(toolbar.getByRole('button', { name: 'Python 3 (ipykernel)', exact: true })).toBeVisible();
    await page.screenshot({ path: '../test-artifacts/error-limit.png' });
    await page.theme.setDarkTheme();
    await page.screenshot({ path: '../test-artifacts/error-limit-dark.png' });
    await page.theme.setLightTheme();
    // Three failed steps, then the thought of the turn that was asked for a best answer and gave none.
    expect(await roles(page)).toEqual(['user', 'thought', 'code', 'thought', 'code', 'thought', 'code', 'thought']);

    await bar(page).getByRole('button', { name: 'Remove cells' }).click();
    await expect(bar(page)).toHaveCount(0);
    expect(await roles(page)).toEqual(['user']);
    // One undo brings every cell back.
    await page.notebook.selectCells(0);
    await page.keyboard.press('Escape');
    await page.keyboard.press('z');
    await expect.poll(() => roles(page)).toEqual(['user', 'thought', 'code', 'thought', 'code', 'thought', 'code', 'thought']);

    // The same from the context menu's command, then the bar of a new episode is dismissed.
    await page.notebook.selectCells(2);
    await page.evaluate(() => (window as any).jupyterapp.commands.execute('datarus:remove-episode-cells'));
    expect(await roles(page)).toEqual(['user']);
    await page.notebook.selectCells(0);
    await analyzeFromDialog(page, 'Fail again.');
    await expect(bar(page)).toHaveAttribute('data-outcome', 'error_limit', { timeout: 120000 });
    await bar(page).getByRole('button', { name: 'Dismiss' }).click();
    await expect(bar(page)).toHaveCount(0);
  });
});

test.describe('Skip and cut-off turns', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { turnGrammars: [exactly(SUM), exactly(answer('Skipped it.'))], approval: 'ask' }
    }
  });

  test('a skipped cell is marked as skipped', async ({ page }) => {
    test.setTimeout(180000);
    await page.notebook.createNew('skip.ipynb');
    await analyzeFromDialog(page, 'Skip it.');
    await bar(page).getByRole('button', { name: 'Skip' }).click({ timeout: 60000 });
    await expect(bar(page)).toContainText('answered', { timeout: 120000 });
    const cell = page.locator('.jp-CodeCell', { hasText: 'print(1 + 2 + 3)' });
    await expect(cell).toHaveClass(/jp-DatarusSkipped/);
    await expect(cell.locator('.jp-OutputArea-output')).toHaveCount(0);
    expect(await roles(page)).toEqual(['user', 'thought', 'code:skipped', 'answer']);
    await page.screenshot({ path: '../test-artifacts/skipped-cell.png' });
  });
});

test.describe('Cut-off turns', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      // Every turn is cut off in its thought: no turn completes, so no thought cell may stay "thinking…".
      'datarus-jupyterlab:agent': { turnGrammars: [exactly(step('Think about it for a long while before doing anything at all.', 'print(1)'))], maxTokensPerTurn: 16, maxConsecutiveErrors: 2, approval: 'auto' }
    }
  });

  test('no stale "thinking…" cell is left when the episode ends mid-thought', async ({ page }) => {
    test.setTimeout(180000);
    await page.notebook.createNew('cutoff.ipynb');
    await analyzeFromDialog(page, 'Think.');
    await expect(bar(page)).toHaveAttribute('data-state', 'ended', { timeout: 120000 });
    await expect(page.locator('.jp-MarkdownCell', { hasText: 'thinking…' })).toHaveCount(0);
    const sources = await page.evaluate(() => (window as any).jupyterapp.shell.currentWidget.content.widgets.map((w: any) => w.model.sharedModel.getSource()));
    for (const source of sources.slice(1)) {
      expect(source).toContain('stopped before this step was complete');
    }
  });
});

test.describe('Reflect progress', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { reflectionGrammar: exactly('<think>\nIt sums x.\n</think>\nCorrect.') }
    }
  });

  test('shows progress in the toolbar and stops on Stop', async ({ page }) => {
    test.setTimeout(180000);
    await page.notebook.createNew('reflect-stop.ipynb');
    await page.notebook.setCell(0, 'code', 'print(6)');
    await expect(page.locator('.jp-DatarusStatus')).toHaveAttribute('data-datarus-status', 'ready', { timeout: 120000 });
    // A frozen host keeps the reflection waiting, so Stop has something to stop.
    const pid = (await (await page.request.get('/datarus/api/status')).json()).pid as number;
    process.kill(pid, 'SIGSTOP');
    try {
      await page.notebook.selectCells(0);
      await page.locator('.jp-NotebookPanel-toolbar [data-command="datarus:reflect"]').click();
      const reflectionBar = page.locator('.jp-DatarusReflectionBar');
      await expect(reflectionBar).toContainText('reflecting', { timeout: 30000 });
      await page.screenshot({ path: '../test-artifacts/reflect-progress.png' });
      await reflectionBar.getByRole('button', { name: 'Stop' }).click();
      await expect(reflectionBar).toContainText('reflection stopped', { timeout: 30000 });
      await expect(page.locator('.jp-MarkdownCell', { hasText: 'stopped before the reflection was complete' })).toHaveCount(1);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // Once the host answers again, a reflection runs to its end and says how long it was.
    await page.notebook.selectCells(0);
    await page.locator('.jp-NotebookPanel-toolbar [data-command="datarus:reflect"]').click();
    await expect(page.locator('.jp-DatarusReflectionBar')).toContainText(/reflected \(\d+ tokens\)/, { timeout: 60000 });
    await expect(page.locator('.jp-MarkdownCell', { hasText: 'Correct.' })).toBeVisible();
  });
});
