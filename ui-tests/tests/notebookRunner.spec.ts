/**
 * The notebook runner (src/lab/notebookRunner.ts), the runner Analyze really
 * uses, in a real JupyterLab: a traceback reaches the model clean, a cell past
 * the time limit is interrupted and the episode goes on, and a kernel that dies
 * mid-cell ends the episode with a reason. The fixture model is forced by
 * per-turn grammars; what the model was shown is read back from the episode log.
 */
import { expect, galata, test } from '@jupyterlab/galata';

import { analyze, exactly, step } from './helpers';

const ANSWER = '<stop_analysis>\n<thought>Seen it.</thought>\n<answer>Done looking.</answer>\n</stop_analysis>';

const settings = (turns: string[], extra: Record<string, unknown> = {}) => ({
  ...galata.DEFAULT_SETTINGS,
  'datarus-jupyterlab:agent': { turnGrammars: turns.map(exactly), approval: 'auto', logEpisodes: true, ...extra }
});

/** The conversation the model was given in the logged episode of `question` (SFT rows: the harness's messages). */
async function loggedMessages(request: any, question: string): Promise<{ role: string; content: string }[]> {
  let row: any;
  await expect
    .poll(
      async () => {
        const response = await request.post('/datarus/api/log/export', { data: { format: 'sft' } });
        const rows = (await response.json()).rows ?? [];
        row = rows.find((r: any) => r.messages.some((m: any) => m.role === 'user' && m.content.includes(question)));
        return row !== undefined;
      },
      { timeout: 30000 }
    )
    .toBe(true);
  return row.messages;
}

test.describe('Notebook runner: a traceback', () => {
  test.use({ mockSettings: settings([step('Divide.', 'x = 1 / 0'), ANSWER]) });

  test('is shown in the cell and reaches the model as clean text, with the error hint', async ({ page, request }) => {
    test.setTimeout(400000);
    await page.notebook.createNew('traceback.ipynb');
    const question = 'What happens when dividing by zero (traceback)?';
    await analyze(page, question);
    const bar = page.locator('.jp-DatarusEpisodeBar');
    await expect(bar).toContainText('answered after 1 step', { timeout: 90000 });
    const cell = page.locator('.jp-CodeCell', { hasText: 'x = 1 / 0' });
    await expect(cell.locator('.jp-OutputArea-output')).toContainText('ZeroDivisionError');

    // The observation sits where the prompt profile puts it (inside the step), then the harness's user turn.
    const messages = await loggedMessages(request, question);
    const index = messages.findIndex(m => m.role !== 'system' && m.content.includes('<observation>'));
    const observation = messages[index];
    expect(observation?.content).toContain('ZeroDivisionError');
    expect(observation?.content).toContain('division by zero');
    expect(observation?.content).not.toMatch(/\u001b\[/); // no ANSI colour codes from the kernel's traceback
    expect(messages[index + 1]?.role).toBe('user');
    expect(messages[index + 1]?.content).not.toContain('Continue with the analysis.'); // an error gets the error hint instead
  });
});

test.describe('Notebook runner: the per-cell time limit', () => {
  test.use({
    kernels: null, // Galata's kernel tracking chokes on the empty reply of an interrupt
    mockSettings: settings([step('Sleep long.', 'import time; time.sleep(300)'), ANSWER], { cellTimeoutSeconds: 3 })
  });

  test('interrupts the kernel past the limit, tells the model, and the episode goes on', async ({ page, request }) => {
    test.setTimeout(400000);
    await page.goto(); // without kernel tracking, a first test can load the page before its folder exists
    await page.notebook.createNew('timelimit.ipynb');
    const question = 'Does a long cell get interrupted (time limit)?';
    await analyze(page, question);
    const bar = page.locator('.jp-DatarusEpisodeBar');
    // The answer comes after the interrupted cell: the limit ended the cell, not the episode.
    await expect(bar).toContainText('answered after 1 step', { timeout: 120000 });
    const cell = page.locator('.jp-CodeCell', { hasText: 'time.sleep(300)' });
    await expect(cell.locator('.jp-OutputArea-output')).toContainText('KeyboardInterrupt');

    const messages = await loggedMessages(request, question);
    const observation = messages.find(m => m.role !== 'system' && m.content.includes('<observation>'));
    expect(observation?.content).toContain('[the cell ran past the 3 s limit and was interrupted]');
  });
});

test.describe('Notebook runner: the kernel dies mid-cell', () => {
  test.use({
    kernels: null,
    mockSettings: settings([step('Exit the process.', 'import os; os._exit(1)'), step('Never runs.', 'print("after death")'), ANSWER])
  });

  test('ends the episode with the reason, and runs nothing after it', async ({ page }) => {
    test.setTimeout(400000);
    await page.goto();
    await page.notebook.createNew('kernel-death.ipynb');
    await analyze(page, 'What if the kernel dies?');
    const bar = page.locator('.jp-DatarusEpisodeBar');
    // The kernel's status (restarting) and the runner's reply (kernel lost) race: either ends the episode, with the reason.
    await expect(bar).toContainText(/(stopped|failed) after 1 step: the kernel (died|restarted)/, { timeout: 120000 });
    await expect(page.locator('.jp-CodeCell', { hasText: 'os._exit(1)' })).toHaveCount(1);
    // The episode ended at the dead kernel: the model's next step was never written, no answer either.
    await expect(page.locator('.jp-CodeCell', { hasText: 'after death' })).toHaveCount(0);
    await expect(page.locator('.jp-MarkdownCell', { hasText: 'Done looking.' })).toHaveCount(0);
    await expect(page.locator('.Toastify__toast', { hasText: /Datarus (stopped|failed).*the kernel (died|restarted)/ })).toBeVisible();
  });
});
