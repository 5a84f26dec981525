/**
 * Galata UI tests in Debian's Chromium (never a Playwright-downloaded browser),
 * against a real JupyterLab with Datarus Lab and the fixture model.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

// Another JupyterLab may hold 8888 on a shared machine: DATARUS_UI_PORT picks a free one.
const port = Number(process.env.DATARUS_UI_PORT ?? 8888);

module.exports = {
  ...baseConfig,
  reporter: [['list'], ['json', { outputFile: '../test-artifacts/playwright.json' }]],
  outputDir: '../test-artifacts/playwright',
  retries: 0,
  workers: 1,
  use: {
    ...baseConfig.use,
    baseURL: `http://localhost:${port}`,
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
    command: `jupyter lab --config jupyter_server_test_config.py --ServerApp.port=${port} --ServerApp.port_retries=0`,
    url: `http://localhost:${port}/lab`,
    timeout: 120000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...process.env, DATARUS_MODEL: 'datarus-test-tiny', DATARUS_UI_PORT: String(port) }
  }
};
