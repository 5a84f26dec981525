/**
 * The benchmarks' model host on a fresh clone: it finds the checkout's models (models/cache) as the
 * scripts do, and a host that exits says why instead of "fetch failed".
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import { benchHostEnv, CHECKOUT_MODELS_DIR, startBenchHost } from '../../src/bench/processes';
import { ROOT } from './paths';

jest.setTimeout(120000);

describe('the benchmark host', () => {
  const saved = process.env.DATARUS_MODELS_DIR;
  afterEach(() => {
    process.env.DATARUS_MODELS_DIR = saved;
  });

  it("uses models/cache unless $DATARUS_MODELS_DIR names another folder", () => {
    expect(CHECKOUT_MODELS_DIR).toBe(path.join(ROOT, 'models', 'cache'));
    expect(benchHostEnv({}).DATARUS_MODELS_DIR).toBe(CHECKOUT_MODELS_DIR);
    expect(benchHostEnv({ DATARUS_MODELS_DIR: '/elsewhere' }).DATARUS_MODELS_DIR).toBe('/elsewhere');
  });

  it('loads the fixture by manifest name with no $DATARUS_MODELS_DIR set (a fresh clone)', async () => {
    delete process.env.DATARUS_MODELS_DIR;
    const host = await startBenchHost('datarus-test-tiny', ['--threads', '1']);
    try {
      const status = await (await host.request('status')).json();
      expect(status.model.name).toBe('datarus-test-tiny');
      // The token reaches the host through its environment, not its argv (readable by every user).
      const argv = readFileSync(`/proc/${host.proc.pid}/cmdline`, 'utf8');
      expect(argv).not.toContain(host.token);
    } finally {
      await host.stop();
    }
  });

  it('a host that exits says why, with the end of its stderr', async () => {
    await expect(startBenchHost('no-such-model', ['--threads', '1'])).rejects.toThrow(
      /the model host exited with code 3:[\s\S]*could not load the model "no-such-model"/
    );
  });
});
