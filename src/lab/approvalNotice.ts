/**
 * With `approval: auto` the model's code runs in the user's kernel without
 * asking. The first Analyze in a notebook says so once, in a toast (non-modal)
 * that offers to switch to asking first; the notebooks already told are kept
 * in the browser's local storage so the notice is not repeated.
 */
import { Notification } from '@jupyterlab/apputils';

const STORAGE_KEY = 'datarus-jupyterlab:approval-notice-shown';
const MAX_REMEMBERED = 500;

export const APPROVAL_NOTICE =
  'Approval is "auto": the code Datarus writes runs in this notebook\'s kernel without asking you first. ' +
  'To review each cell before it runs, set Approval to "ask" in Settings → Datarus Lab: Analyze.';

function remembered(): string[] {
  try {
    const value = JSON.parse(window.localStorage.getItem(STORAGE_KEY) ?? '[]');
    return Array.isArray(value) ? value : [];
  } catch {
    return [];
  }
}

/** Shows the notice unless this notebook has had it; `switchToAsk` changes the setting. */
export function showApprovalNotice(notebookPath: string, switchToAsk: () => void): boolean {
  const shown = remembered();
  if (shown.includes(notebookPath)) {
    return false;
  }
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify([notebookPath, ...shown].slice(0, MAX_REMEMBERED)));
  } catch {
    // Storage full or disabled: the notice may come again, which is harmless.
  }
  Notification.info(APPROVAL_NOTICE, {
    autoClose: 20000,
    actions: [{ label: 'Ask me first', caption: 'Set Approval to "ask"', callback: switchToAsk }]
  });
  return true;
}
