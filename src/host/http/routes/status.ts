/** `GET /api/status`: the host's version and process, and the engine's state. */
import type { HostStatus } from '../../../contract';
import type { Engine } from '../../engine';
import { HOST_VERSION } from '../../version';
import { Route, route, sendJson } from './route';

export function statusRoutes(engine: Engine): Route[] {
  return [
    route('GET', /^\/api\/status$/, null, async ({ res }) => {
      const status: HostStatus = { version: HOST_VERSION, pid: process.pid, uptimeSeconds: Math.round(process.uptime()), ...(await engine.status()) };
      sendJson(res, 200, status);
    })
  ];
}
