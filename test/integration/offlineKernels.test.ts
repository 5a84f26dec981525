/**
 * The private Jupyter server of headless runs starts its kernels without
 * network where Linux allows it: a TCP server listening on this machine's
 * loopback cannot be reached from such a kernel (its loopback is another
 * namespace's), while the kernel still runs code, reads its folder's files
 * and is interrupted past the cell limit. `network: true` (--kernel-network)
 * gives the kernels this machine's network again.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import type { ExecutionResult } from '../../src/agent/types';
import { KernelPool } from '../../src/headless/kernels';
import { offlineKernelsUnavailable } from '../../src/headless/offlineKernels';
import { VENV_BIN } from './paths';
import { runContext } from './processes';

jest.setTimeout(300000);

const JUPYTER = path.join(VENV_BIN, 'jupyter');
const unavailable = offlineKernelsUnavailable();
const itWhereAllowed = unavailable ? it.skip : it;

const context = (timeoutMs?: number) => runContext('offline', 1, timeoutMs);
const text = (r: ExecutionResult) => r.outputs.map(o => ('text' in o ? String(o.text) : JSON.stringify(o))).join('');

let listener: net.Server;
let port = 0;
const connections: number[] = [];

beforeAll(async () => {
  listener = net.createServer(socket => {
    connections.push(Date.now());
    socket.end('hello\n');
  });
  await new Promise<void>(resolve => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await new Promise(resolve => listener.close(resolve));
});

const connectCode = () =>
  [
    'import socket',
    's = socket.socket()',
    's.settimeout(5)',
    'try:',
    `    s.connect(("127.0.0.1", ${port}))`,
    '    print("reached", s.recv(16).decode().strip())',
    'except OSError as e:',
    '    print("unreachable", type(e).__name__)'
  ].join('\n');

describe('kernels of the private Jupyter server', () => {
  itWhereAllowed('have no network by default, yet run code, see their files and stop past the cell limit', async () => {
    const pool = await KernelPool.local({ jupyter: JUPYTER });
    try {
      expect(pool.networkNote).toBe('kernels without network');
      const data = path.join(mkdtempSync(path.join(os.tmpdir(), 'datarus-offline-')), 'sales.csv');
      writeFileSync(data, 'region,units\nEast,3\nWest,5\n');
      const lease = await pool.open('offline', [{ name: 'sales.csv', source: data }]);
      try {
        const before = connections.length;
        const reached = await lease.runner.run(connectCode(), context());
        expect(reached.status).toBe('ok');
        expect(text(reached)).toMatch(/^unreachable /);
        expect(connections.length).toBe(before);

        const read = await lease.runner.run('import pandas as pd\nprint(pd.read_csv("sales.csv").units.sum())', context());
        expect(text(read).trim()).toBe('8');

        const slow = await lease.runner.run('import time\ntime.sleep(120)', context(2000));
        expect(slow.status).toBe('timeout');
        const after = await lease.runner.run('print("still here")', context());
        expect(text(after).trim()).toBe('still here');
      } finally {
        await lease.dispose();
      }
    } finally {
      await pool.close();
    }
  });

  it('reach the network with network: true', async () => {
    const pool = await KernelPool.local({ jupyter: JUPYTER, network: true });
    try {
      expect(pool.networkNote).toBe('kernels with network (--kernel-network)');
      const lease = await pool.open('online', []);
      try {
        const reached = await lease.runner.run(connectCode(), context());
        expect(text(reached).trim()).toBe('reached hello');
      } finally {
        await lease.dispose();
      }
    } finally {
      await pool.close();
    }
  });
});
