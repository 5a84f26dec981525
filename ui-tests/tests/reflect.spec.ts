/**
 * Reflection and logging in a real JupyterLab, with the fixture model forced by
 * grammars set through the settings.
 */
import { expect, galata, test } from '@jupyterlab/galata';

import { exactly } from './helpers';

const REFLECTION = '<think>\nThe cell builds a frame of three rows and sums x, which prints 6.\n</think>\nThe code is correct: the sum of x is 6.';

test.describe('Reflect', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { reflectionGrammar: exactly(REFLECTION) }
    }
  });

  test('writes a collapsible reasoning cell below the selected cells', async ({ page, request, tmpPath }) => {
    await page.notebook.createNew('reflect.ipynb');
    await page.notebook.setCell(0, 'code', "import pandas as pd\ndf = pd.DataFrame({'x': [1, 2, 3]})\nprint(df.x.sum())");
    await page.notebook.runCell(0);
    await page.notebook.selectCells(0);
    await page.locator('.jp-NotebookPanel-toolbar [data-command="datarus:reflect"]').click();

    const reflection = page.locator('.jp-MarkdownCell', { hasText: 'The code is correct: the sum of x is 6.' });
    await expect(reflection).toBeVisible({ timeout: 60000 });
    const details = reflection.locator('details');
    await expect(details).toHaveCount(1);
    await expect(details.locator('summary')).toHaveText('Reasoning');
    // Collapsed: the reasoning is there but hidden until opened.
    await expect(details).not.toHaveAttribute('open', '');
    await details.locator('summary').click();
    await expect(details).toContainText('sums x, which prints 6');
    await page.screenshot({ path: '../test-artifacts/reflection.png' });

    await page.notebook.save();
    const notebook = (await (await request.get(`/api/contents/${tmpPath}/reflect.ipynb?content=1`)).json()).content;
    const cell = notebook.cells.find((c: any) => c.metadata.datarus?.role === 'reflection');
    expect(cell.metadata.datarus.reflectsOn).toEqual([notebook.cells[0].id]);
  });
});

test.describe('Episode logging', () => {
  const STEP = "<step>\n<thought>Sum x.</thought>\n<action>python_executor</action>\n<action_input>\nprint(1 + 2 + 3)\n</action_input>\n</step>";
  const ANSWER = '<stop_analysis>\n<thought>It printed 6.</thought>\n<answer>6</answer>\n</stop_analysis>';
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { turnGrammars: [exactly(STEP), exactly(ANSWER)], logEpisodes: true }
    }
  });

  test('logs the episode when logging is on, and says so', async ({ page, request }) => {
    await page.notebook.createNew('logged.ipynb');
    await page.locator('.jp-NotebookPanel-toolbar [data-command="datarus:analyze"]').click();
    await page.locator('.jp-Dialog input').fill('Sum one, two and three.');
    await page.locator('.jp-Dialog').getByRole('button', { name: 'Analyze' }).click();
    const bar = page.locator('.jp-DatarusEpisodeBar');
    await expect(bar).toContainText('answered after 1 step · logged', { timeout: 60000 });
    const log = await (await request.get('/datarus/api/log')).json();
    expect(log.episodes).toBeGreaterThanOrEqual(1);
    const rows = await (await request.post('/datarus/api/log/export', { data: { format: 'tagged' } })).json();
    expect(rows.rows.some((r: any) => r.question === 'Sum one, two and three.' && r.structural_reward === 1)).toBe(true);
  });
});
