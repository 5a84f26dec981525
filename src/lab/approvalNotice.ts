/**
 * With `approval: auto` the model's code runs in the user's kernel without
 * asking (except what the code policy flags, src/agent/codePolicy.ts). The first Analyze in a notebook says so once, in a toast (non-modal)
 * that offers to switch to asking first; the notebooks already told are kept
 * in the browser's local storage so the notice is not repeated.
 */
import { Notification } from '@jupyterlab/apputils';

const STORAGE_KEY = 'datarus-jupyterlab:approval-notice-shown';
const MAX_REMEMBERED = 500;

/** Short enough for a toast to show whole (longer messages are cut there). */
export const APPROVAL_NOTICE =
  'Approval is "auto": Datarus runs the code it writes in this kernel without asking you, except cells that use the network, the shell, installs or credentials. "Ask me first" switches to "ask".';

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
