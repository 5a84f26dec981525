#!/usr/bin/env node
'use strict';
// The compiled CLI lives in lib-node/ (built by `npm run build:node`).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'lib-node', 'cli', 'index.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('datarus: not built yet; run `npm run build:node` (or the README set-up) first\n');
  process.exit(1);
}
require(entry)
  .buildProgram()
  .parseAsync(process.argv)
  .catch(err => {
    process.stderr.write(`datarus: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
