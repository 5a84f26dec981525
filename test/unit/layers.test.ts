/**
 * Imports point one way (protocol ← episode ← contract ← agent ← {lab, host} ←
 * headless ← {cli, bench}): dependency-cruiser checks src/ against .dependency-cruiser.cjs, and
 * a small tree with one upward import of each kind shows that every rule bites. The folders of
 * src/ import each other without a loop too (the file-level rule sees only loops of files:
 * cli/a → headless/b → cli/c is none), checked here on the graph dependency-cruiser reads.
 * Shipped code reads no test hook: no `DATARUS_TEST_*` variable and no name ending in `ForTests`
 * under src/ (tests inject faults through seams of their own, test/integration/faults.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = path.join(ROOT, 'node_modules', '.bin', 'depcruise');

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}

interface CruiseResult {
  summary: { violations: Violation[]; totalCruised: number };
  modules: { source: string; dependencies: { resolved: string }[] }[];
}

/** The first-level folder of src/ a module is in, or null outside one. */
function folderOf(file: string): string | null {
  return /^src\/([^/]+)\//.exec(file)?.[1] ?? null;
}

/** Which folders of src/ each folder imports from (type-only imports count: the loop is in the code's structure). */
function folderGraph(result: CruiseResult): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const module of result.modules) {
    const from = folderOf(module.source);
    if (from === null) {
      continue;
    }
    const targets = graph.get(from) ?? graph.set(from, new Set()).get(from)!;
    for (const dependency of module.dependencies) {
      const to = folderOf(dependency.resolved);
      if (to !== null && to !== from) {
        targets.add(to);
      }
    }
  }
  return graph;
}

/** The folders that lie on a loop, by loop (strongly connected components of more than one folder, Tarjan's). */
function folderLoops(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const loops: string[][] = [];
  const visit = (folder: string) => {
    index.set(folder, index.size);
    low.set(folder, index.get(folder)!);
    stack.push(folder);
    for (const next of graph.get(folder) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(folder, Math.min(low.get(folder)!, low.get(next)!));
      } else if (stack.includes(next)) {
        low.set(folder, Math.min(low.get(folder)!, index.get(next)!));
      }
    }
    if (low.get(folder) === index.get(folder)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        component.push(member);
      } while (member !== folder);
      if (component.length > 1) {
        loops.push(component.sort());
      }
    }
  };
  for (const folder of [...graph.keys()].sort()) {
    if (!index.has(folder)) {
      visit(folder);
    }
  }
  return loops.sort((a, b) => a.join().localeCompare(b.join()));
}

/** Runs dependency-cruiser over `src` in `cwd`; it exits non-zero when a rule is broken, so read its JSON either way. */
function cruise(cwd: string): CruiseResult {
  let out: string;
  try {
    out = execFileSync(DEPCRUISE, ['src', '--config', CONFIG, '--output-type', 'json'], { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    out = (err as { stdout?: string }).stdout ?? '';
    if (!out) {
      throw err;
    }
  }
  return JSON.parse(out) as CruiseResult;
}

function edges(violations: Violation[]): string[] {
  return violations.map(v => `${v.rule.name}: ${v.from} → ${v.to}`);
}

describe('import direction', () => {
  jest.setTimeout(300000);

  it('holds for src/', () => {
    const result = cruise(ROOT);
    expect(edges(result.summary.violations)).toEqual([]);
    // It did look: every source module of the project was cruised.
    expect(result.summary.totalCruised).toBeGreaterThan(100);
  });

  it('has no loop between the folders of src/', () => {
    const graph = folderGraph(cruise(ROOT));
    expect(folderLoops(graph)).toEqual([]);
    // It did look: the command layer calls the headless library, which calls the host.
    expect([...(graph.get('cli') ?? [])]).toEqual(expect.arrayContaining(['headless', 'host']));
    expect([...(graph.get('headless') ?? [])]).toContain('host');
  });

  describe('in a tree with one upward import of each kind', () => {
    let dir: string;
    let rules: Record<string, string[]>;
    let loops: string[][];

    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'datarus-layers-'));
      const files: Record<string, string> = {
        'src/protocol/parser.ts': "import { recordOf } from '../episode/record';\nexport const parse = recordOf;\n",
        'src/episode/record.ts': "import type { Turn } from '../agent/turn';\nexport function recordOf(turn?: Turn): string {\n  return String(turn);\n}\n",
        'src/agent/turn.ts': "import { api } from '../lab/api';\nexport interface Turn {\n  text: string;\n}\nexport const client = api;\n",
        'src/lab/api.ts': "import { readFileSync } from 'node:fs';\nimport { serve } from '../host/server';\nexport const api = [readFileSync, serve];\n",
        'src/host/server.ts': "import { plugin } from '../lab/plugin';\nexport const serve = plugin;\n",
        'src/lab/plugin.ts': 'export const plugin = 1;\n',
        'src/contract/status.ts': "import type { Turn } from '../agent/turn';\nexport type Status = Turn;\n",
        'src/contract/events.ts': "import { parse } from '../protocol/parser';\nexport const EVENTS = [parse];\n",
        'src/cli/index.ts': "import { plugin } from '../lab/plugin';\nexport const cli = plugin;\n",
        'src/bench/a.ts': "import { b } from './b';\nexport const a = () => b;\n",
        'src/bench/b.ts': "import { a } from './a';\nexport const b = () => a;\n",
        // A loop of folders, not of files: cli/main → headless/run → cli/arguments.
        'src/cli/main.ts': "import { run } from '../headless/run';\nexport const main = run;\n",
        'src/headless/run.ts': "import { positiveInt } from '../cli/arguments';\nexport const run = positiveInt;\n",
        'src/cli/arguments.ts': 'export const positiveInt = 1;\n'
      };
      for (const [file, text] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        writeFileSync(path.join(dir, file), text);
      }
      rules = {};
      const result = cruise(dir);
      loops = folderLoops(folderGraph(result));
      for (const v of result.summary.violations) {
        (rules[v.rule.name] ??= []).push(`${v.from} → ${v.to}`);
      }
    });

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it.each([
      ['protocol-imports-down-only', 'src/protocol/parser.ts', 'src/episode/record.ts'],
      ['episode-imports-down-only', 'src/episode/record.ts', 'src/agent/turn.ts'],
      ['agent-imports-down-only', 'src/agent/turn.ts', 'src/lab/api.ts'],
      ['lab-imports-down-only', 'src/lab/api.ts', 'src/host/server.ts'],
      ['host-imports-down-only', 'src/host/server.ts', 'src/lab/plugin.ts'],
      ['contract-imports-down-only', 'src/contract/status.ts', 'src/agent/turn.ts'],
      ['contract-types-only', 'src/contract/events.ts', 'src/protocol/parser.ts'],
      ['node-side-not-lab', 'src/cli/index.ts', 'src/lab/plugin.ts'],
      ['browser-no-node-builtins', 'src/lab/api.ts', 'fs'],
      ['headless-imports-down-only', 'src/headless/run.ts', 'src/cli/arguments.ts'],
      ['no-circular', 'src/bench/a.ts', 'src/bench/b.ts']
    ])('%s fails on %s → %s', (rule, from, to) => {
      // A built-in may be reported as `fs` or `node:fs`.
      expect(rules[rule] ?? []).toContainEqual(expect.stringMatching(new RegExp(`^${from} → (node:)?${to}$`)));
    });

    it('the folder rule fails on cli ↔ headless, which no file-level rule sees, and on lab ↔ host', () => {
      expect(loops).toEqual([
        ['cli', 'headless'],
        ['host', 'lab']
      ]);
      expect((rules['no-circular'] ?? []).filter(edge => edge.includes('cli/') || edge.includes('headless/'))).toEqual([]);
    });
  });
});

/** A test switch in shipped code: a `DATARUS_TEST_*` variable named (read, passed on or documented), or a `…ForTests` name. */
const TEST_HOOK = /\bDATARUS_TEST_\w*|\b\w+ForTests\b/g;

/** Every test hook in the TypeScript under `dir/src`, as `file:line: match`. */
function testHooks(dir: string): string[] {
  const found: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder)) {
      const full = path.join(folder, entry);
      if (statSync(full).isDirectory()) {
        walk(full);
      } else if (/\.tsx?$/.test(entry)) {
        readFileSync(full, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            for (const match of line.matchAll(TEST_HOOK)) {
              found.push(`${path.relative(dir, full)}:${i + 1}: ${match[0]}`);
            }
          });
      }
    }
  };
  walk(path.join(dir, 'src'));
  return found;
}

describe('test hooks', () => {
  it('none in shipped code: src/ reads no DATARUS_TEST_ variable and has no name ending in ForTests', () => {
    expect(testHooks(ROOT)).toEqual([]);
  });

  it('the check finds each kind in a tree that has them', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'datarus-hooks-'));
    try {
      mkdirSync(path.join(dir, 'src', 'host'), { recursive: true });
      writeFileSync(
        path.join(dir, 'src', 'host', 'engine.ts'),
        [
          'const fault = process.env.DATARUS_TEST_SELFTEST_FAULT;',
          "const other = env['DATARUS_TEST_DIE_AT_LOAD'];",
          'function dieAtLoadForTests(): void {}',
          'export const fine = process.env.DATARUS_GPU;'
        ].join('\n')
      );
      expect(testHooks(dir)).toEqual([
        'src/host/engine.ts:1: DATARUS_TEST_SELFTEST_FAULT',
        'src/host/engine.ts:2: DATARUS_TEST_DIE_AT_LOAD',
        'src/host/engine.ts:3: dieAtLoadForTests'
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
