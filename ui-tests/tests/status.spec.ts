import { expect, test } from '@jupyterlab/galata';

test.describe('Datarus host status', () => {
  test('the status bar shows the loaded model and its backend', async ({ page }) => {
    const item = page.locator('.jp-DatarusStatus');
    await expect(item).toBeVisible();
    await expect(item).toHaveAttribute('data-datarus-status', 'ready', { timeout: 60000 });
    await expect(item).toHaveText('Datarus: datarus-test-tiny · CPU');
    const title = await item.getAttribute('title');
    expect(title).toContain('Model: datarus-test-tiny');
    expect(title).toMatch(/Backend: CPU, \d+ threads? \(measured\)/);
    await page.screenshot({ path: '../test-artifacts/status-bar.png' });
    expect(await item.screenshot()).toBeTruthy();
  });

  test('the status item follows the dark theme', async ({ page }) => {
    const item = page.locator('.jp-DatarusStatus');
    await expect(item).toHaveAttribute('data-datarus-status', 'ready', { timeout: 60000 });
    const light = await item.evaluate(node => getComputedStyle(node).color);
    await page.theme.setDarkTheme();
    await expect.poll(() => item.evaluate(node => getComputedStyle(node).color)).not.toBe(light);
    await page.screenshot({ path: '../test-artifacts/status-bar-dark.png' });
  });
});
