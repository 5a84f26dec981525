/**
 * `%%datarus` in a JupyterLab notebook: the kernel's own episode, shown as one
 * Markdown output updated in place (step, thought, highlighted code, output,
 * answer) as it streams. The fixture model is forced by a grammar file in the
 * notebook's folder; the kernel reaches the server's host.
 */
import { expect, test } from '@jupyterlab/galata';

import { answer, exactly, step } from './helpers';

test('the streamed output of %%datarus renders in the notebook, one output updated in place', async ({ page, request, tmpPath }) => {
  test.setTimeout(600000);
  const turns = [exactly(step('Add the numbers.', 'total = 40 + 2\nprint(total)')), exactly(answer('The total is 42.'))];
  const put = await request.put(`/api/contents/${tmpPath}/turns.json`, { data: { type: 'file', format: 'text', content: JSON.stringify(turns) } });
  expect(put.ok()).toBe(true);

  await page.notebook.createNew('magic.ipynb');
  await page.notebook.setCell(0, 'code', '%load_ext datarus_jupyterlab');
  await page.notebook.addCell('code', '%%datarus --grammar turns.json --max-steps 3 --no-log\nWhat is the total?');
  await page.notebook.runCell(0);
  await page.notebook.runCell(1, { wait: false });

  const outputs = page.locator('.jp-Cell').nth(1).locator('.jp-OutputArea-child');
  // While the episode runs the same output shows the header first, then the steps.
  await expect(outputs.first()).toContainText('Datarus', { timeout: 240000 });
  const rendered = page.locator('.jp-Cell').nth(1).locator('.jp-OutputArea .jp-RenderedMarkdown');
  await expect(rendered).toContainText('The total is 42.', { timeout: 240000 });
  await expect(outputs).toHaveCount(1);
  // Rendered Markdown, not text: the labels are bold and the code is a code block.
  await expect(rendered.locator('strong', { hasText: 'Step 1' })).toBeVisible();
  await expect(rendered.locator('strong', { hasText: 'Answer.' })).toBeVisible();
  await expect(rendered.locator('pre code').first()).toContainText('total = 40 + 2');
  await expect(rendered.locator('pre').nth(1)).toContainText('42');
  await page.screenshot({ path: '../test-artifacts/magic.png' });
});
