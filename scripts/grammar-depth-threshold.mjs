#!/usr/bin/env node
// Finds how deeply nested GBNF groups can be before llama.cpp's grammar parser
// crashes the process, by bisection, each try in a child process (a crash is a
// signal, not an exception). The host's bound (src/host/grammarLimits.ts) must
// stay far below what this prints.
//   node scripts/grammar-depth-threshold.mjs [low] [high]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === '--try') {
  const depth = Number(process.argv[3]);
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  await llama.createGrammar({ grammar: `root ::= ${'('.repeat(depth)}"a"${')'.repeat(depth)}` });
  process.exit(0);
}

const parses = depth => {
  const child = spawnSync(process.execPath, [self, '--try', String(depth)], { stdio: 'ignore' });
  return { ok: child.status === 0, how: child.signal ?? `exit ${child.status}` };
};

let low = Number(process.argv[2] ?? 1000);
let high = Number(process.argv[3] ?? 100000);
if (!parses(low).ok) {
  console.log(`even ${low} nested groups fail: ${parses(low).how}`);
  process.exit(1);
}
const top = parses(high);
if (top.ok) {
  console.log(`${high} nested groups still parse: no crash below that`);
  process.exit(0);
}
while (high - low > Math.max(1, Math.floor(low / 100))) {
  const mid = Math.floor((low + high) / 2);
  if (parses(mid).ok) {
    low = mid;
  } else {
    high = mid;
  }
}
console.log(`${low} nested groups parse; ${high} fail (${parses(high).how})`);
