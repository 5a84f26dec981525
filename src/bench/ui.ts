/**
 * Browser benchmark: from the click on the question dialog's Analyze button to
 * the first cell Datarus writes, in a real JupyterLab in Debian's Chromium, with
 * the model loaded (the fixture, forced by per-turn grammars set through the
 * user settings, so the number is the product's latency, not the model's).
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { formatAnswer, formatStep } from '../protocol';
import { spawnJupyter, writeBenchNotebook } from './processes';

const CHROMIUM = process.env.DATARUS_CHROMIUM ?? '/usr/bin/chromium';
const RUNS = 3;

export interface UiBench {
  'agent.click_to_first_cell_ms': number | null;
  runs: number[];
  note?: string;
}

export async function benchClickToFirstCell(): Promise<UiBench> {
  if (!existsSync(CHROMIUM)) {
    return { 'agent.click_to_first_cell_ms': null, runs: [], note: `no browser at ${CHROMIUM} (scripts/setup.sh --test installs Chromium)` };
  }
  const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;
  const settingsDir = mkdtempSync(path.join(os.tmpdir(), 'datarus-bench-settings-'));
  mkdirSync(path.join(settingsDir, 'datarus-jupyterlab'));
  writeFileSync(
    path.join(settingsDir, 'datarus-jupyterlab', 'agent.jupyterlab-settings'),
    JSON.stringify({
      turnGrammars: [exactly(formatStep({ thought: 'Sum x.', code: 'print(1 + 2 + 3)' })), exactly(formatAnswer({ thought: 'It printed 6.', text: '6' }))]
    })
  );
  const root = mkdtempSync(path.join(os.tmpdir(), 'datarus-bench-lab-'));
  writeBenchNotebook(path.join(root, 'bench.ipynb'));
  const lab = await spawnJupyter('lab', {
    root,
    args: [`--LabApp.user_settings_dir=${settingsDir}`, `--LabApp.workspaces_dir=${mkdtempSync(path.join(os.tmpdir(), 'datarus-bench-ws-'))}`],
    env: { DATARUS_MODEL: 'datarus-test-tiny' }
  });
  const { chromium } = await import('@playwright/test');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${lab.url}/lab/tree/bench.ipynb?token=${lab.token}`);
    await page.locator('.jp-DatarusStatus[data-datarus-status="ready"]').waitFor({ timeout: 120000 });
    await page.getByText('Python 3 (ipykernel) | Idle').waitFor({ timeout: 120000 });
    const runs: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      await page.locator('.jp-NotebookPanel-toolbar [data-command="datarus:analyze"]').click();
      await page.locator('.jp-Dialog input').fill(`What is the sum, run ${run}?`);
      const cellsBefore = await page.locator('.jp-Notebook .jp-Cell').count();
      const button = page.locator('.jp-Dialog').getByRole('button', { name: 'Analyze' });
      // Time measured inside the page, from the click event to the first new cell in the DOM.
      const elapsed = page.evaluate(
        (before: number) =>
          new Promise<number>(resolve => {
            // Runs in the page: the browser's globals, not Node's.
            const { document, MutationObserver } = globalThis as any;
            let start = 0;
            document.addEventListener('click', () => (start = performance.now()), { capture: true, once: true });
            const observer = new MutationObserver(() => {
              if (start && document.querySelectorAll('.jp-Notebook .jp-Cell').length > before) {
                observer.disconnect();
                resolve(performance.now() - start);
              }
            });
            observer.observe(document.body, { childList: true, subtree: true });
          }),
        cellsBefore
      );
      await page.waitForTimeout(50); // let the listeners attach
      await button.click();
      runs.push(await elapsed);
      await page.locator('.jp-DatarusEpisodeBar', { hasText: 'answered' }).waitFor({ timeout: 120000 });
    }
    const sorted = [...runs].sort((a, b) => a - b);
    return { 'agent.click_to_first_cell_ms': sorted[Math.floor(sorted.length / 2)], runs };
  } finally {
    await browser.close();
    lab.stop();
  }
}

export interface NotebookSideBench {
  'agent.notebook_ms_per_cell': number | null;
  notebookMs: number[];
  kernelMs: number[];
  note?: string;
}

/**
 * The notebook side of a step, in Chromium: insert a code cell into the notebook model, run it through
 * JupyterLab's run command (NotebookActions), read its outputs back; minus a bare kernel execute of the
 * same code in the same page, so what is left is the notebook's own cost per cell.
 */
export async function benchNotebookSide(cells = 15): Promise<NotebookSideBench> {
  if (!existsSync(CHROMIUM)) {
    return { 'agent.notebook_ms_per_cell': null, notebookMs: [], kernelMs: [], note: `no browser at ${CHROMIUM}` };
  }
  const root = mkdtempSync(path.join(os.tmpdir(), 'datarus-bench-lab-'));
  writeBenchNotebook(path.join(root, 'side.ipynb'));
  const lab = await spawnJupyter('lab', {
    root,
    args: ['--LabApp.expose_app_in_browser=True', `--LabApp.workspaces_dir=${mkdtempSync(path.join(os.tmpdir(), 'datarus-bench-ws-'))}`]
  });
  const { chromium } = await import('@playwright/test');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${lab.url}/lab/tree/side.ipynb?token=${lab.token}`);
    await page.getByText('Python 3 (ipykernel) | Idle').waitFor({ timeout: 180000 });
    const timings = await page.evaluate(async (count: number) => {
      // Runs in the page, on JupyterLab's own objects.
      const app = (globalThis as any).jupyterapp;
      const panel = app.shell.currentWidget;
      await panel.sessionContext.ready;
      const kernel = panel.sessionContext.session.kernel;
      const code = (i: number) => `print(${i} * 2)`;
      const notebookMs: number[] = [];
      const kernelMs: number[] = [];
      for (let i = 0; i < count; i++) {
        let started = performance.now();
        await kernel.requestExecute({ code: code(i) }).done;
        kernelMs.push(performance.now() - started);

        started = performance.now();
        const notebook = panel.content;
        const index = notebook.model.cells.length;
        notebook.model.sharedModel.insertCell(index, { cell_type: 'code', source: code(i), metadata: {} });
        notebook.activeCellIndex = index;
        await app.commands.execute('notebook:run-cell');
        const outputs = notebook.widgets[index].model.outputs.toJSON();
        notebookMs.push(performance.now() - started);
        if (String(outputs[0]?.text ?? '').trim() !== String(i * 2)) {
          throw new Error(`cell ${i} printed ${JSON.stringify(outputs)}`);
        }
      }
      return { notebookMs, kernelMs };
    }, cells);
    // The first few warm up the page's code paths.
    const warm = (values: number[]) => values.slice(3).sort((a, b) => a - b);
    const nb = warm(timings.notebookMs);
    const kernel = warm(timings.kernelMs);
    const med = (v: number[]) => v[Math.floor(v.length / 2)];
    return { 'agent.notebook_ms_per_cell': med(nb) - med(kernel), ...timings };
  } finally {
    await browser.close();
    lab.stop();
  }
}
