/** What the UI specs share: turns forced by grammars, and asking Analyze a question as a user does. */
import { expect } from '@jupyterlab/galata';
import type { Page } from '@playwright/test';

/** A grammar that lets the model write exactly `text`. */
export const exactly = (text: string): string => `root ::= ${JSON.stringify(text)}`;

/** A protocol step that runs `code`. */
export const step = (thought: string, code: string): string =>
  `<step>\n<thought>${thought}</thought>\n<action>python_executor</action>\n<action_input>\n${code}\n</action_input>\n</step>`;

/** A final answer. */
export const answer = (text: string): string => `<stop_analysis>\n<thought>Done.</thought>\n<answer>${text}</answer>\n</stop_analysis>`;

/** The episode bar of the notebook in front. */
export const bar = (page: Page) => page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-DatarusEpisodeBar');

/** Analyze from the toolbar button and its question dialog. */
export async function analyzeFromDialog(page: Page, question: string): Promise<void> {
  await page.locator('.jp-NotebookPanel-toolbar [data-command="datarus:analyze"]').click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toBeVisible();
  await dialog.locator('input').fill(question);
  await dialog.getByRole('button', { name: 'Analyze' }).click();
}

/** As above, once the model is ready: on a fresh server it may still be loading (thread calibration takes minutes on a busy machine). */
export async function analyze(page: Page, question: string): Promise<void> {
  await expect(page.locator('.jp-DatarusStatus')).toHaveAttribute('data-datarus-status', 'ready', { timeout: 240000 });
  await analyzeFromDialog(page, question);
}
