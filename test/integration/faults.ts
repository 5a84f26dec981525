/**
 * Hosts with faults a test injects (fixtures/hostWithFaults.js; the fault spec in fixtures/faults.js):
 * the real CLI of this checkout, its engine given a backend probe whose self-test children fail, or
 * aborting at its first model load. Nothing in the shipped host reads a test switch.
 */
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { CLI } from "./paths";

export const HOST_WITH_FAULTS = path.join(
  __dirname,
  "fixtures",
  "hostWithFaults.js",
);

/** The command that runs `datarus` with these faults, for startHost. */
export function cliWithFaults(faults: string): string[] {
  return [process.execPath, HOST_WITH_FAULTS, faults, CLI];
}

/**
 * A `node` for the Jupyter server's `DatarusLabApp.node` setting that runs the host it is given with
 * these faults: the server starts `node <entry> <arguments>`, as for the real one.
 */
export function nodeWithFaults(faults: string): string {
  const file = path.join(
    mkdtempSync(path.join(os.tmpdir(), "datarus-faults-")),
    "node",
  );
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(
    file,
    `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(HOST_WITH_FAULTS)} ${quote(faults)} "$@"\n`,
  );
  chmodSync(file, 0o755);
  return file;
}
