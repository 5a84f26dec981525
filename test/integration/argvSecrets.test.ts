/**
 * No secret in argv: every local user can read a process's command line
 * (`ps`, /proc/PID/cmdline), only its owner its environment. A headless run
 * starts a model host and a private Jupyter server (and its kernels); while it
 * runs, every process under it is read from /proc, the tokens are taken from
 * their environments, and no command line may hold one.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { formatAnswer, formatStep } from '../../src/protocol';
import { CLI, MODELS_DIR, ROOT } from './paths';

jest.setTimeout(600000);

const exactly = (text: string) => `root ::= ${JSON.stringify(text)}`;

interface Seen {
  cmdline: string;
  environ: Record<string, string>;
}

function read(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null; // the process ended meanwhile
  }
}

/** Every process under `root` now: its command line and environment. */
function descendants(root: number): Map<number, Seen> {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const stat = /^\d+$/.test(entry) ? read(`/proc/${entry}/stat`) : null;
    if (stat) {
      // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so read after the last ')'.
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        return true;
      }
    }
    return false;
  };
  const seen = new Map<number, Seen>();
  for (const pid of [root, ...[...parent.keys()].filter(under)]) {
    const cmdline = read(`/proc/${pid}/cmdline`);
    const environ = read(`/proc/${pid}/environ`);
    if (cmdline !== null && environ !== null) {
      const env = Object.fromEntries(environ.split('\0').filter(Boolean).map(kv => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      seen.set(pid, { cmdline: cmdline.split('\0').join(' '), environ: env });
    }
  }
  return seen;
}

describe('the processes a headless run starts', () => {
  it('carry no token on their command lines', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-argv-'));
    writeFileSync(path.join(dir, 'data.csv'), 'x\n1\n2\n');
    const grammars = path.join(dir, 'turns.json');
    // A step that sleeps, so the kernel is seen while it runs.
    writeFileSync(
      grammars,
      JSON.stringify([
        exactly(formatStep({ thought: 'Wait, then sum.', code: 'import time\ntime.sleep(4)\nprint(3)' })),
        exactly(formatAnswer({ thought: 'It printed 3.', text: '3' }))
      ])
    );
    const proc = spawn(
      process.execPath,
      [CLI, 'run', 'What is the sum of x?', '--data', path.join(dir, 'data.csv'), '--log', path.join(dir, 'episodes.jsonl'), '--grammar', grammars, '--model', 'datarus-test-tiny', '--threads', '1'],
      { cwd: ROOT, env: { ...process.env, DATARUS_MODELS_DIR: MODELS_DIR, JUPYTER_TOKEN: '', DATARUS_HOST_TOKEN: '' }, stdio: ['ignore', 'ignore', 'pipe'] }
    );
    let stderr = '';
    proc.stderr!.on('data', d => (stderr += d));
    const exited = new Promise<number | null>(resolve => proc.on('close', resolve));
    let done = false;
    void exited.then(() => (done = true));
    const all = new Map<number, Seen>();
    while (!done) {
      for (const [pid, seen] of descendants(proc.pid!)) {
        all.set(pid, seen);
      }
      await new Promise(r => setTimeout(r, 100));
    }
    expect([await exited, stderr.slice(-2000)]).toEqual([0, expect.stringContaining('step 1')]);

    // `jupyter server` execs `jupyter-server`.
    const jupyter = [...all.values()].filter(s => /jupyter[- ]server/.test(s.cmdline));
    expect([...all.values()].map(s => s.cmdline)).toContainEqual(expect.stringMatching(/jupyter[- ]server/));
    const kernels = [...all.values()].filter(s => /ipykernel/.test(s.cmdline));
    expect(kernels.length).toBeGreaterThan(0);
    const secrets = new Set<string>();
    for (const seen of all.values()) {
      for (const name of ['JUPYTER_TOKEN', 'DATARUS_HOST_TOKEN']) {
        if (seen.environ[name]) {
          secrets.add(seen.environ[name]);
        }
      }
    }
    // Both tokens were made (the check can fail), and no command line holds either.
    expect(jupyter.every(s => s.environ.JUPYTER_TOKEN && s.environ.JUPYTER_TOKEN.length >= 16)).toBe(true);
    expect([...all.values()].some(s => (s.environ.DATARUS_HOST_TOKEN ?? '').length >= 16)).toBe(true);
    for (const { cmdline } of all.values()) {
      for (const secret of secrets) {
        expect(cmdline).not.toContain(secret);
      }
      expect(cmdline).not.toMatch(/token=/i);
    }
  });
});
