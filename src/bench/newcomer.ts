/**
 * `npm run bench:newcomer`: the newcomer's first question, replayed as a user
 * asks it. A real JupyterLab with Datarus Lab and the starter model (by manifest
 * name, as the product starts it), a folder with one `orders.csv` (city, qty,
 * price; a fixed seed, so the right city is known), a fresh notebook per try,
 * and in Debian's Chromium the question typed into Analyze's dialog without
 * naming the file, under approval auto. Each try is right when the answer names
 * the top city first (and a step ran without error). Writes the `newcomer` entry
 * of benchmarks/results.json and the `newcomer` section of BENCHMARKS.md; the
 * episodes (the host's log) and the notebooks stay under --out. The host and the
 * browser code are this checkout's (`npm run build`), whatever the venv installed.
 *
 *   npm run bench:newcomer -- --tries 3 --port 8897 --threads 1 --try-timeout 2400 --out /work/runs/me/newcomer
 *
 * Not a test: it needs the starter's GGUF and minutes per try.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Episode } from '../episode/types';
import { spawnJupyter, writeBenchNotebook } from './processes';
import { writePart } from './report';
import { answerMatches, random } from './starterTasks';

const ROOT = path.resolve(__dirname, '..', '..');
const CHROMIUM = process.env.DATARUS_CHROMIUM ?? '/usr/bin/chromium';
export const NEWCOMER_QUESTION = 'Which city has the highest total of qty * price?';
const CITIES = ['Porto', 'Madrid', 'Lyon', 'Turin', 'Ghent'] as const;
/** Per try (`--try-timeout`, seconds): one step of the 1.5B model at 1 thread on a shared 2-core machine took up to 8 minutes. */
const TRY_TIMEOUT_S = 2400;

export interface Orders {
  csv: string;
  /** The city with the highest total of qty * price. */
  top: string;
  /** Every city's total, in whole cents (exact). */
  totalsCents: Record<string, number>;
}

/** 100 orders from a fixed seed; throws when the top two cities are within 2% (a near tie is no fair question). */
export function makeOrders(seed = 20261203, rows = 100): Orders {
  const rand = random(seed);
  const lines = ['city,qty,price'];
  const totalsCents: Record<string, number> = Object.fromEntries(CITIES.map(c => [c, 0]));
  for (let i = 0; i < rows; i++) {
    const city = CITIES[Math.floor(rand() * CITIES.length)];
    const qty = 1 + Math.floor(rand() * 20);
    const priceCents = 500 + Math.floor(rand() * 7500);
    lines.push(`${city},${qty},${(priceCents / 100).toFixed(2)}`);
    totalsCents[city] += qty * priceCents;
  }
  const ranked = Object.entries(totalsCents).sort((a, b) => b[1] - a[1]);
  if (ranked[0][1] - ranked[1][1] < 0.02 * ranked[0][1]) {
    throw new Error(`seed ${seed}: ${ranked[0][0]} and ${ranked[1][0]} are within 2%`);
  }
  return { csv: lines.join('\n') + '\n', top: ranked[0][0], totalsCents };
}

/** Right: the answer names the top city before any other, and at least one step ran without error. */
export function isRight(episode: Pick<Episode, 'answer' | 'steps'> | null, top: string): boolean {
  const answer = episode?.answer?.text;
  return !!answer && answerMatches(answer, { kind: 'choice', value: top, candidates: CITIES }) && episode!.steps.some(s => s.status === 'ok');
}

interface Try {
  n: number;
  right: boolean;
  /** The episode bar's last text. */
  ending: string;
  steps: number;
  wallSeconds: number;
  answer: string | null;
  grounded: boolean | null;
  sentBack: number;
  /** Approvals the code policy asked for under auto (each clicked Run, as the user would). */
  approvalsAsked: number;
  profile: string | null;
  episodeId: string | null;
  loadBefore: number[];
  loadAfter: number[];
  code: string[];
}

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

function loggedEpisodes(file: string): Episode[] {
  if (!existsSync(file)) {
    return [];
  }
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(line => JSON.parse(line))
    .filter(record => record.type === 'episode')
    .map(record => record.episode as Episode);
}

async function main(): Promise<void> {
  const tries = Number(option('tries', '3'));
  const port = Number(option('port', '0')) || undefined;
  const threads = option('threads', '1');
  const tryTimeoutMs = Number(option('try-timeout', String(TRY_TIMEOUT_S))) * 1000;
  const model = option('model', process.env.DATARUS_MODEL || 'qwen2.5-coder-1.5b');
  const out = path.resolve(option('out', path.join(os.tmpdir(), `datarus-newcomer-${Date.now()}`)));
  const orders = makeOrders();
  const lab = path.join(out, 'lab');
  const settingsDir = path.join(out, 'settings');
  mkdirSync(path.join(settingsDir, 'datarus-jupyterlab'), { recursive: true });
  mkdirSync(path.join(settingsDir, '@jupyterlab', 'apputils-extension'), { recursive: true });
  mkdirSync(lab, { recursive: true });
  writeFileSync(path.join(lab, 'orders.csv'), orders.csv);
  // Analyze's defaults, with approval auto said out loud and the episodes logged to read afterwards.
  writeFileSync(path.join(settingsDir, 'datarus-jupyterlab', 'agent.jupyterlab-settings'), JSON.stringify({ approval: 'auto', logEpisodes: true }));
  // No news or update prompt over the notebook (no network here either).
  writeFileSync(path.join(settingsDir, '@jupyterlab', 'apputils-extension', 'notification.jupyterlab-settings'), JSON.stringify({ fetchNews: 'false', checkForUpdates: false }));
  const episodesFile = path.join(out, 'episodes.jsonl');
  // This checkout's browser code, ahead of the one the venv installed (an editable install may point at another checkout).
  const jupyterPath = path.join(out, 'jupyter-path');
  const builtLab = path.join(ROOT, 'datarus_jupyterlab', 'labextension');
  if (existsSync(path.join(builtLab, 'package.json'))) {
    mkdirSync(path.join(jupyterPath, 'labextensions'), { recursive: true });
    const link = path.join(jupyterPath, 'labextensions', 'datarus-jupyterlab');
    if (!existsSync(link)) {
      symlinkSync(builtLab, link);
    }
  }
  process.stderr.write(`newcomer: ${out}; the answer is ${orders.top} (${JSON.stringify(orders.totalsCents)} cents)\n`);

  const jupyter = await spawnJupyter('lab', {
    root: lab,
    port,
    logFile: path.join(out, 'jupyter.log'),
    args: [
      `--LabApp.user_settings_dir=${settingsDir}`,
      `--LabApp.workspaces_dir=${path.join(out, 'workspaces')}`,
      `--DatarusLabApp.threads=${threads}`,
      `--DatarusLabApp.episodes_file=${episodesFile}`
    ],
    // This checkout's host, the model by name as a newcomer's DATARUS_MODEL gives it.
    env: {
      DATARUS_MODEL: model,
      DATARUS_HOST_DIR: process.env.DATARUS_HOST_DIR || ROOT,
      JUPYTER_PATH: [jupyterPath, process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
      ...(process.env.DATARUS_MODELS_DIR ? { DATARUS_MODELS_DIR: process.env.DATARUS_MODELS_DIR } : {})
    }
  });
  const { chromium } = await import('@playwright/test');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  });
  const results: Try[] = [];
  let hostStatus: any = null;
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    for (let n = 1; n <= tries; n++) {
      const notebook = `try${n}.ipynb`;
      // An empty notebook as JupyterLab's New Notebook writes it.
      writeBenchNotebook(path.join(lab, notebook), '');
      await page.goto(`${jupyter.url}/lab/tree/${notebook}?token=${jupyter.token}`);
      await page.locator('.jp-DatarusStatus[data-datarus-status="ready"]').waitFor({ timeout: 900000 });
      await page.getByText('Python 3 (ipykernel) | Idle').waitFor({ timeout: 180000 });
      hostStatus ??= await (await fetch(`${jupyter.url}/datarus/api/status`, { headers: { Authorization: `token ${jupyter.token}` } })).json();
      const before = loggedEpisodes(episodesFile).length;
      const loadBefore = os.loadavg();
      // As a user: the toolbar button, the question typed key by key, the dialog's Analyze button.
      await page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar [data-command="datarus:analyze"]').click();
      const input = page.locator('.jp-Dialog input');
      await input.waitFor();
      await input.pressSequentially(NEWCOMER_QUESTION, { delay: 20 });
      const started = performance.now();
      await page.locator('.jp-Dialog').getByRole('button', { name: 'Analyze' }).click();
      const bar = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-DatarusEpisodeBar');
      await bar.waitFor({ timeout: 60000 });
      let approvalsAsked = 0;
      const deadline = Date.now() + tryTimeoutMs;
      for (;;) {
        const state = await bar.getAttribute('data-state');
        if (state === 'ended') {
          break;
        }
        if (state === 'approval') {
          approvalsAsked++;
          process.stderr.write(`  try ${n}: the policy asked: ${await bar.locator('.jp-DatarusEpisodeBar-risk').textContent().catch(() => '')}\n`);
          await bar.getByRole('button', { name: 'Run', exact: true }).click();
        }
        if (Date.now() > deadline) {
          await bar.getByRole('button', { name: 'Stop' }).click();
          await page.waitForTimeout(5000);
          break;
        }
        await page.waitForTimeout(500);
      }
      const wallSeconds = (performance.now() - started) / 1000;
      const ending = (await bar.locator('.jp-DatarusEpisodeBar-label').textContent()) ?? '';
      await page.keyboard.press('Control+s');
      // The log record comes after the episode ends.
      let episode: Episode | null = null;
      for (let wait = 0; wait < 40 && !episode; wait++) {
        episode = loggedEpisodes(episodesFile)[before] ?? null;
        if (!episode) {
          await page.waitForTimeout(500);
        }
      }
      await page.screenshot({ path: path.join(out, `try${n}.png`), fullPage: true });
      const result: Try = {
        n,
        right: isRight(episode, orders.top),
        ending,
        steps: episode?.steps.filter(s => s.status !== 'invalid').length ?? 0,
        wallSeconds,
        answer: episode?.answer?.text ?? null,
        grounded: episode?.answerGrounding?.grounded ?? null,
        sentBack: episode?.rejectedAnswers?.length ?? 0,
        approvalsAsked,
        profile: episode?.promptProfile ?? null,
        episodeId: episode?.id ?? null,
        loadBefore,
        loadAfter: os.loadavg(),
        code: episode?.steps.map(s => `[${s.status}] ${s.code}`) ?? []
      };
      results.push(result);
      // Kept after every try: a run cut short keeps what it measured.
      writeFileSync(path.join(out, 'newcomer.json'), JSON.stringify({ model, threads, top: orders.top, results }, null, 2) + '\n');
      process.stderr.write(`  try ${n}: ${result.right ? 'right' : 'wrong'}, ${result.steps} steps, ${wallSeconds.toFixed(0)} s, "${ending}": ${JSON.stringify(result.answer)}\n`);
      // Close the notebook and its kernel before the next try's fresh one.
      await fetch(`${jupyter.url}/api/sessions?token=${jupyter.token}`)
        .then(r => r.json() as Promise<any[]>)
        .then(sessions => Promise.all(sessions.map(s => fetch(`${jupyter.url}/api/sessions/${s.id}?token=${jupyter.token}`, { method: 'DELETE' }))));
    }
  } finally {
    await browser.close();
    jupyter.stop();
  }
  const right = results.filter(r => r.right).length;
  const summary = { date: new Date().toISOString(), model, threads, question: NEWCOMER_QUESTION, top: orders.top, right, tries: results.length, host: hostStatus?.model ?? hostStatus, results };
  writeFileSync(path.join(out, 'newcomer.json'), JSON.stringify(summary, null, 2) + '\n');
  if (!process.argv.includes('--no-write')) {
    writePart('newcomer', summary, markdown(summary));
  }
  process.stdout.write(markdown(summary) + '\n');
}

function markdown(s: { date: string; model: string; threads: string; top: string; right: number; tries: number; results: Try[] }): string {
  const load = (l: number[]) => l.map(v => v.toFixed(2)).join(' / ');
  return [
    '## The newcomer replay in Chromium',
    '',
    `Written by \`npm run bench:newcomer\` on ${s.date.slice(0, 10)} (${os.cpus().length} cores, host threads ${s.threads}): a real JupyterLab with`,
    `Datarus Lab and \`${s.model}\` by manifest name, a folder with one 100-row \`orders.csv\` (city, qty, price; fixed seed, the`,
    `answer is ${s.top}), a fresh notebook per try, and in Debian's Chromium the question "${NEWCOMER_QUESTION}" typed into`,
    "Analyze's dialog (the file not named), approval auto, Analyze's other defaults. Right: the answer names the top city",
    'before any other and a step ran without error. Wall time from the click on Analyze to the ending; the machine is shared.',
    '',
    `**${s.right} of ${s.tries} right.**`,
    '',
    '| try | right | steps | wall | ending (episode bar) | answer | load before / after (1/5/15 min) |',
    '|---|---|---|---|---|---|---|',
    ...s.results.map(
      r =>
        `| ${r.n} | ${r.right ? '✓' : '✗'} | ${r.steps} | ${r.wallSeconds.toFixed(0)} s | ${r.ending.replace(/\|/g, '\\|')} | ${(r.answer ?? '–').replace(/\s+/g, ' ').replace(/\|/g, '\\|')} | ${load(r.loadBefore)}; ${load(r.loadAfter)} |`
    )
  ].join('\n');
}

if (require.main === module) {
  main().catch(err => {
    process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
    process.exit(1);
  });
}
