/**
 * Integration tests need the compiled host (lib-node/) and the fixture GGUF;
 * both are made here when missing, so `npx jest` works after `npm ci` alone.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

import { FIXTURE, PYTHON, ROOT } from './paths';

export default async function globalSetup(): Promise<void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.node.json'], { cwd: ROOT, stdio: 'inherit' });
  if (!existsSync(FIXTURE)) {
    execFileSync(PYTHON, ['models/make_fixture.py'], { cwd: ROOT, stdio: 'inherit' });
  }
}
