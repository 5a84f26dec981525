/**
 * An answer stating a value no cell printed, in a real JupyterLab: the fixture
 * model (forced by per-turn grammars) prints 6, then answers 7 twice. The first
 * answer is sent back; the second is accepted with a caution in the answer
 * cell, in the bar, and in the cell's metadata.
 */
import { expect, galata, test } from '@jupyterlab/galata';

import { analyze, exactly } from './helpers';

const CODE = "import pandas as pd; df = pd.DataFrame({'x': [1, 2, 3]}); print(df.x.sum())";
const STEP = `<step>\n<thought>Build the frame and sum x.</thought>\n<action>python_executor</action>\n<action_input>\n${CODE}\n</action_input>\n</step>`;
const UNGROUNDED = '<stop_analysis>\n<thought>A guess.</thought>\n<answer>The sum of x is 7.</answer>\n</stop_analysis>';

test.use({
  mockSettings: {
    ...galata.DEFAULT_SETTINGS,
    // The last grammar repeats: the answer sent back is written again.
    'datarus-jupyterlab:agent': { turnGrammars: [exactly(STEP), exactly(UNGROUNDED)], approval: 'auto', promptProfile: 'compact' }
  }
});

test('an answer whose value no cell printed is sent back once, then shown with a caution', async ({ page, request, tmpPath }) => {
  test.setTimeout(300000); // may wait for the model to load on a fresh server
  await page.notebook.createNew('grounding.ipynb');
  await analyze(page, 'What is the sum of x?');

  const answer = page.locator('.jp-MarkdownCell', { hasText: 'The sum of x is 7.' });
  await expect(answer).toBeVisible({ timeout: 120000 });
  await expect(answer).toContainText('Caution: no cell printed 7. Check this answer against the data before relying on it.');
  await expect(page.locator('.jp-DatarusEpisodeBar')).toContainText('answered after 1 step, but no cell printed 7');
  // One answer cell: the answer sent back left no cell behind, and the step ran once.
  await expect(page.locator('.jp-MarkdownCell', { hasText: 'The sum of x is' })).toHaveCount(1);
  await expect(page.locator('.jp-CodeCell', { hasText: 'df.x.sum()' })).toHaveCount(1);
  await page.screenshot({ path: '../test-artifacts/grounding-caution.png' });

  await page.notebook.save();
  const notebook = (await (await request.get(`/api/contents/${tmpPath}/grounding.ipynb?content=1`)).json()).content;
  const answerCell = notebook.cells.find((c: any) => c.metadata.datarus?.role === 'answer');
  expect(answerCell.metadata.datarus).toMatchObject({ role: 'answer', grounded: false });
  // A thought cell, a code cell and the answer: nothing else.
  expect(notebook.cells.filter((c: any) => c.metadata.datarus).map((c: any) => c.metadata.datarus.role)).toEqual(['thought', 'code', 'answer']);
});
