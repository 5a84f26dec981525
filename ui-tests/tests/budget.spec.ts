/**
 * The token budget in Analyze: with the fixture model loaded at a 2,048-token
 * context, a step that prints about 1,500 characters leaves no room for the
 * next turn, so the loop cuts that output (recorded in the episode) and the
 * episode still ends with the answer; the episode bar says the outputs were
 * shortened. The host goes back to the context it chose by itself afterwards,
 * for the specs that follow.
 */
import { expect, galata, test } from '@jupyterlab/galata';

import { analyze, answer, bar, exactly, step } from './helpers';

const CONTEXT = 2048;
/** About 1,500 characters: a numbered table headed "part 1". */
const PRINT = "print('part 1'); print('\\n'.join(f'{i:4d} {i * 7:10d}' for i in range(95)))";
const ANSWER = answer('Every part was printed.');

/** Loads the fixture at `contextSize` (the host's own choice when absent) and waits until it is ready with it. */
async function loadFixture(request: any, contextSize?: number): Promise<void> {
  const ready = async (size?: number) => {
    const status = await (await request.get('/datarus/api/status')).json();
    return status.state === 'ready' && (size === undefined || status.contextSize === size);
  };
  // A fresh server's host is still loading its first model (and measuring threads): a load waits for it.
  await expect.poll(() => ready(), { timeout: 240000 }).toBe(true);
  const loaded = await request.post('/datarus/api/models/load', { data: { model: 'datarus-test-tiny', ...(contextSize ? { contextSize } : {}) } });
  expect([loaded.status(), loaded.ok() ? '' : await loaded.text()]).toEqual([200, '']);
  await expect.poll(() => ready(contextSize), { timeout: 240000 }).toBe(true);
}

test.describe('Analyze with a small context', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { turnGrammars: [exactly(step('Print part 1.', PRINT)), exactly(ANSWER)], approval: 'auto' }
    }
  });

  test.afterAll(async ({ request }) => {
    await loadFixture(request);
  });

  test('a long output is shortened to fit, the episode answers, and the bar says the outputs were shortened', async ({ page, request }) => {
    test.setTimeout(480000); // two model loads on a busy machine
    await loadFixture(request, CONTEXT);
    await page.notebook.createNew('budget.ipynb');
    await analyze(page, 'Print part 1, then say whether it was printed.');

    await expect(page.locator('.jp-MarkdownCell', { hasText: 'Every part was printed.' })).toBeVisible({ timeout: 120000 });
    // The notebook keeps the whole output; only what the model read was cut.
    const code = page.locator('.jp-CodeCell', { hasText: "print('part 1')" });
    await expect(code.locator('.jp-OutputArea-output')).toContainText('94        658');
    // No room is left for a second step: the loop asked for the answer, and the bar says both.
    await expect(bar(page)).toContainText(
      /answered after 1 step \(asked for the answer: the context was full\); the outputs of 1 step were shortened to fit the model's context \([\d,]+ characters cut\)/
    );
    await page.screenshot({ path: '../test-artifacts/analyze-shortened.png' });
  });
});
