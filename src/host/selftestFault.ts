/**
 * DATARUS_TEST_SELFTEST_FAULT=<backend>:abort|exit|hang (test-only): which way the
 * self-test child fails on purpose for a backend (see selftestChild.ts).
 */
export type Fault = 'abort' | 'exit' | 'hang';

export function faultFor(backend: string, env: NodeJS.ProcessEnv = process.env): Fault | null {
  for (const item of (env.DATARUS_TEST_SELFTEST_FAULT ?? '').split(',')) {
    const [name, fault] = item.split(':').map(s => s.trim());
    if (name === backend && (fault === 'abort' || fault === 'exit' || fault === 'hang')) {
      return fault;
    }
  }
  return null;
}

