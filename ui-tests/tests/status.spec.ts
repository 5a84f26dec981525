import { expect, test } from '@jupyterlab/galata';

/** The backend label the item must show: whatever the host reports it chose (CPU here, a GPU elsewhere). */
async function backendLabel(request: any): Promise<{ label: string; status: any }> {
  const status = await (await request.get('/datarus/api/status')).json();
  expect(['cpu', 'cuda', 'vulkan', 'metal']).toContain(status.backend);
  return { label: status.backend === 'cpu' ? 'CPU' : status.backend.toUpperCase(), status };
}

test.describe('Datarus host status', () => {
  test('the status bar shows the loaded model and its backend', async ({ page, request }) => {
    test.setTimeout(300000); // a fresh server may still be loading the model
    const item = page.locator('.jp-DatarusStatus');
    await expect(item).toBeVisible();
    await expect(item).toHaveAttribute('data-datarus-status', 'ready', { timeout: 240000 });
    const { label, status } = await backendLabel(request);
    await expect(item).toHaveText(`Datarus: datarus-test-tiny · ${label}`);
    const title = await item.getAttribute('title');
    expect(title).toContain('Model: datarus-test-tiny');
    if (status.backend === 'cpu') {
      expect(title).toContain(`Backend: CPU, ${status.threads} thread`);
    } else {
      expect(title).toContain(`Backend: ${label}`);
    }
    // The item is on screen in the status bar, with a size a user can see and click.
    const box = await item.boundingBox();
    const bar = await page.locator('#jp-main-statusbar').boundingBox();
    expect(box && bar).toBeTruthy();
    expect(box!.width).toBeGreaterThan(50);
    expect(box!.y).toBeGreaterThanOrEqual(bar!.y - 1);
    expect(box!.y + box!.height).toBeLessThanOrEqual(bar!.y + bar!.height + 1);
    await page.screenshot({ path: '../test-artifacts/status-bar.png' });
  });

  test('the status item follows the dark theme', async ({ page }) => {
    test.setTimeout(300000); // a fresh server may still be loading the model
    const item = page.locator('.jp-DatarusStatus');
    await expect(item).toHaveAttribute('data-datarus-status', 'ready', { timeout: 240000 });
    const light = await item.evaluate(node => getComputedStyle(node).color);
    await page.theme.setDarkTheme();
    await expect.poll(() => item.evaluate(node => getComputedStyle(node).color)).not.toBe(light);
    await page.screenshot({ path: '../test-artifacts/status-bar-dark.png' });
  });
});

// Last on purpose: it loads another model into the shared host.
test.describe('Models', () => {
  test('downloads a model with progress from the status item, then loads it', async ({ page, request }) => {
    test.setTimeout(400000); // the load measures thread counts: minutes on a busy machine
    const item = page.locator('.jp-DatarusStatus');
    await expect(item).toHaveAttribute('data-datarus-status', 'ready', { timeout: 240000 });
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
    const { label } = await backendLabel(request);
    await expect(item).toHaveText(`Datarus: ui-download-tiny · ${label}`, { timeout: 300000 });
    await page.screenshot({ path: '../test-artifacts/models-downloaded.png' });
  });
});
