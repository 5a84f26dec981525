/**
 * Integration tests need the compiled host (lib-node/) and the fixture GGUF;
 * both are made here when missing, so `npx jest` works after `npm ci` alone.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

import { FIXTURE, MODELS_DIR, PYTHON, ROOT } from './paths';

export default async function globalSetup(): Promise<void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.node.json'], { cwd: ROOT, stdio: 'inherit' });
  // The checkout's models folder, as scripts/lab.sh and scripts/test.sh set it; the
  // per-user default (<jupyter data dir>/datarus/models) is for installed packages.
  process.env.DATARUS_MODELS_DIR ??= MODELS_DIR;
  if (!existsSync(FIXTURE)) {
    execFileSync(PYTHON, ['models/make_fixture.py'], { cwd: ROOT, stdio: 'inherit' });
  }
}
