import { expect, test } from '@jupyterlab/galata';

test.describe('Datarus host status', () => {
  test('the status bar shows the loaded model and its backend', async ({ page }) => {
    const item = page.locator('.jp-DatarusStatus');
    await expect(item).toBeVisible();
    await expect(item).toHaveAttribute('data-datarus-status', 'ready', { timeout: 60000 });
    await expect(item).toHaveText(/^Datarus: datarus-test-tiny · (CPU|CUDA|Vulkan|Metal)$/);
    const title = await item.getAttribute('title');
    expect(title).toContain('Model: datarus-test-tiny');
    expect(title).toMatch(/Backend: (CPU, \d+ threads? \(measured\)|CUDA|Vulkan|Metal)/);
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

// Last on purpose: it loads another model into the shared host.
test.describe('Models', () => {
  test('downloads a model with progress from the status item, then loads it', async ({ page }) => {
    const item = page.locator('.jp-DatarusStatus');
    await expect(item).toHaveAttribute('data-datarus-status', 'ready', { timeout: 60000 });
    await item.click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toBeVisible();
    // The loaded model is offered first: Go alone never starts a download.
    await expect(dialog.locator('select')).toHaveValue(/datarus-test-tiny\) — loaded/);
    await dialog.locator('select').selectOption({ label: 'Download test model (ui-download-tiny) — not downloaded: download it' });
    await dialog.getByRole('button', { name: 'Go' }).click();
    // Downloading takes a choice of its own.
    const confirm = page.locator('.jp-Dialog', { hasText: 'Download Download test model?' });
    await expect(confirm).toBeVisible();
    await confirm.getByRole('button', { name: 'Download' }).click();
    const done = page.locator('.Toastify__toast', { hasText: 'ui-download-tiny is downloaded' });
    await expect(done).toBeVisible({ timeout: 60000 });
    await page.getByRole('button', { name: 'Load it' }).click();
    await expect(item).toHaveText(/^Datarus: ui-download-tiny · (CPU|CUDA|Vulkan|Metal)$/, { timeout: 60000 });
    await page.screenshot({ path: '../test-artifacts/models-downloaded.png' });
  });
});
