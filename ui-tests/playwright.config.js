/**
 * Galata UI tests in Debian's Chromium (never a Playwright-downloaded browser),
 * against a real JupyterLab with Datarus Lab and the fixture model.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

// DATARUS_UI_PORT lets two checkouts run their UI tests side by side.
const PORT = process.env.DATARUS_UI_PORT ?? '8888';

module.exports = {
  ...baseConfig,
  reporter: [['list'], ['json', { outputFile: '../test-artifacts/playwright.json' }]],
  outputDir: '../test-artifacts/playwright',
  retries: 0,
  workers: 1,
  use: {
    ...baseConfig.use,
    baseURL: `http://localhost:${PORT}`,
    video: 'off',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.DATARUS_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  },
  webServer: {
    command: 'jupyter lab --config jupyter_server_test_config.py',
    url: `http://localhost:${PORT}/lab`,
    timeout: 120000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...process.env, DATARUS_MODEL: 'datarus-test-tiny', DATARUS_UI_PORT: PORT }
  }
};
