/**
 * Approval choices and the backend setting, as a user meets them: Skip leaves
 * a cell unrun and the episode goes on; Allow the rest runs this and every
 * later cell without asking again; with the OpenAI-compatible backend chosen in
 * the settings, Analyze talks to that server and not to the embedded host.
 */
import { expect, galata, test } from '@jupyterlab/galata';

import { analyze, exactly } from './helpers';

const step = (n: number) => `<step>\n<thought>Print ${n}.</thought>\n<action>python_executor</action>\n<action_input>\nprint(${n} * 111)\n</action_input>\n</step>`;
const ANSWER = '<stop_analysis>\n<thought>Printed.</thought>\n<answer>All printed.</answer>\n</stop_analysis>';

const output = (page: any, n: number) => page.locator('.jp-CodeCell', { hasText: `print(${n} * 111)` }).locator('.jp-OutputArea-output');

test.describe('Approval: Skip and Allow the rest', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { turnGrammars: [exactly(step(1)), exactly(step(2)), exactly(step(3)), exactly(ANSWER)], approval: 'ask' }
    }
  });

  test('Skip leaves the cell unrun; Allow the rest runs it and every later cell without asking', async ({ page }) => {
    test.setTimeout(400000);
    await page.notebook.createNew('allow-rest.ipynb');
    // Count how often the bar asks, from the page itself.
    await page.evaluate(() => {
      const w = globalThis as any;
      w.datarusAsked = 0;
      new w.MutationObserver((records: any[]) => {
        for (const r of records) {
          if (r.target.classList?.contains('jp-DatarusEpisodeBar') && r.target.dataset.state === 'approval') {
            w.datarusAsked++;
          }
        }
      }).observe(w.document.body, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
    });
    await analyze(page, 'Print the numbers.');
    const bar = page.locator('.jp-DatarusEpisodeBar');

    await expect(bar.getByRole('button', { name: 'Skip' })).toBeVisible({ timeout: 120000 });
    await expect(page.locator('.jp-CodeCell', { hasText: 'print(1 * 111)' })).toHaveCount(1);
    await bar.getByRole('button', { name: 'Skip' }).click();

    await expect(bar.getByRole('button', { name: 'Allow the rest' })).toBeVisible({ timeout: 120000 });
    await expect(page.locator('.jp-CodeCell', { hasText: 'print(2 * 111)' })).toHaveCount(1);
    await bar.getByRole('button', { name: 'Allow the rest' }).click();

    await expect(bar).toContainText('answered after 3 steps', { timeout: 120000 });
    await expect(page.locator('.jp-MarkdownCell', { hasText: 'All printed.' })).toBeVisible();
    await expect(output(page, 1)).toHaveCount(0); // skipped: never ran
    await expect(output(page, 2)).toHaveText('222');
    await expect(output(page, 3)).toHaveText('333');
    // Asked before steps 1 and 2 only: after Allow the rest, step 3 ran without a question.
    expect(await page.evaluate(() => (globalThis as any).datarusAsked)).toBe(2);
  });
});

test.describe('Backend: OpenAI-compatible, chosen in the settings', () => {
  const BASE = 'http://remote-model.invalid/v1';
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'datarus-jupyterlab:agent': { backend: 'openai', openaiBaseUrl: BASE, openaiApiKey: 'remote-key', openaiModel: 'remote-datarus', approval: 'auto' }
    }
  });

  test('Analyze streams each turn from that server, with its key and model, and never from the embedded host', async ({ page }) => {
    test.setTimeout(400000);
    // The remote server: answers like an OpenAI-compatible one (streamed chunks, cut at the stop string).
    const replies = [step(7).replace('</step>', ''), ANSWER.replace('</stop_analysis>', '')];
    const seen: any[] = [];
    await page.route(`${BASE}/chat/completions`, async route => {
      const body = route.request().postDataJSON();
      seen.push({ body, auth: route.request().headers()['authorization'] });
      const text = replies.shift() ?? '';
      const chunks = text.match(/[\s\S]{1,9}/g) ?? [];
      const events = chunks.map(c => ({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: c }, finish_reason: null }] }));
      events.push({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] } as any);
      await route.fulfill({
        status: 200,
        headers: { 'Content-Type': 'text/event-stream', 'Access-Control-Allow-Origin': '*' },
        body: events.map(e => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n'
      });
    });
    await page.route(`${BASE}/**`, route =>
      route.request().method() === 'OPTIONS'
        ? route.fulfill({ status: 204, headers: { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': '*', 'Access-Control-Allow-Methods': 'POST' } })
        : route.fallback()
    );
    const embedded: string[] = [];
    page.on('request', r => {
      if (r.url().includes('/datarus/api/generate')) {
        embedded.push(r.url());
      }
    });
    await page.notebook.createNew('remote.ipynb');
    await analyze(page, 'Print 777.');
    const bar = page.locator('.jp-DatarusEpisodeBar');
    await expect(bar).toContainText('answered after 1 step', { timeout: 120000 });
    await expect(output(page, 7)).toHaveText('777');
    await expect(page.locator('.jp-MarkdownCell', { hasText: 'All printed.' })).toBeVisible();
    expect(seen).toHaveLength(2);
    expect(seen[0].auth).toBe('Bearer remote-key');
    expect(seen[0].body).toMatchObject({ model: 'remote-datarus', stream: true });
    expect(seen[0].body.stop).toEqual(expect.arrayContaining(['</step>']));
    // The second turn carries what the kernel printed.
    expect(JSON.stringify(seen[1].body.messages)).toContain('777');
    expect(embedded).toEqual([]);
  });
});
