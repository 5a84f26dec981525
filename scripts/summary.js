#!/usr/bin/env node
// Prints one closing line for the whole test run from jest's and Playwright's JSON reports and
// pytest's JUnit XML: "tests: N passed, N failed, N skipped".
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dir = path.join(__dirname, '..', 'test-artifacts');
let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];

const readText = name => {
  try {
    return fs.readFileSync(path.join(dir, name), 'utf8');
  } catch {
    missing.push(name);
    return null;
  }
};
const read = name => {
  const text = readText(name);
  try {
    return text === null ? null : JSON.parse(text);
  } catch {
    missing.push(name);
    return null;
  }
};

const jest = read('jest.json');
if (jest) {
  passed += jest.numPassedTests;
  failed += jest.numFailedTests + (jest.numRuntimeErrorTestSuites || 0);
  skipped += jest.numPendingTests + jest.numTodoTests;
}
const pw = read('playwright.json');
if (pw) {
  passed += pw.stats.expected;
  failed += pw.stats.unexpected + pw.stats.flaky;
  skipped += pw.stats.skipped;
}
// pytest's JUnit XML: one <testsuite> with tests, failures, errors and skipped counts.
const junit = readText('pytest.xml');
if (junit !== null) {
  const suite = /<testsuite\b[^>]*>/.exec(junit);
  const count = attr => Number((new RegExp(`\\b${attr}="(\\d+)"`).exec(suite ? suite[0] : '') || [])[1] || 0);
  if (!suite) {
    missing.push('pytest.xml');
  } else {
    passed += count('tests') - count('failures') - count('errors') - count('skipped');
    failed += count('failures') + count('errors');
    skipped += count('skipped');
  }
}
// Coverage of src/ by the jest run (code run in jest's own process: the host and CLI that the
// integration tests start as child processes are exercised but not counted).
try {
  const total = JSON.parse(fs.readFileSync(path.join(dir, 'coverage', 'coverage-summary.json'), 'utf8')).total;
  const pct = key => `${total[key].pct}%`;
  console.log(`coverage (jest, src/): lines ${pct('lines')}, statements ${pct('statements')}, functions ${pct('functions')}, branches ${pct('branches')}`);
} catch {
  console.log('coverage (jest, src/): no report (test-artifacts/coverage/coverage-summary.json)');
}
for (const name of missing) {
  console.log(`no report ${name}: that suite did not run to the end`);
  failed += 1;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
