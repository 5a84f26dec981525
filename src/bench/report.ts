/**
 * Benchmarks that run on their own (`bench:gpu`, `bench:grammar`) add their part
 * to benchmarks/results.json and BENCHMARKS.md without dropping what other runs
 * wrote: one key of the JSON, one marked section of the Markdown.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
export const RESULTS_FILE = path.join(ROOT, 'benchmarks', 'results.json');
export const BENCHMARKS_MD = path.join(ROOT, 'BENCHMARKS.md');

const begin = (name: string) => `<!-- section:${name} -->`;
const end = (name: string) => `<!-- /section:${name} -->`;

export function readResults(): Record<string, unknown> {
  return existsSync(RESULTS_FILE) ? JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) : {};
}

/** The marked sections of the current BENCHMARKS.md, to carry over when the main bench rewrites it. */
export function readSections(): Map<string, string> {
  const sections = new Map<string, string>();
  if (!existsSync(BENCHMARKS_MD)) {
    return sections;
  }
  const text = readFileSync(BENCHMARKS_MD, 'utf8');
  for (const match of text.matchAll(/<!-- section:([\w-]+) -->\n[\s\S]*?<!-- \/section:\1 -->\n?/g)) {
    sections.set(match[1], match[0].endsWith('\n') ? match[0] : match[0] + '\n');
  }
  return sections;
}

/** `markdown` wrapped in its markers. */
export function section(name: string, markdown: string): string {
  return `${begin(name)}\n${markdown.trimEnd()}\n${end(name)}\n`;
}

/** Writes one key of results.json and replaces (or appends) one section of BENCHMARKS.md. */
export function writePart(name: string, value: unknown, markdown: string): void {
  const results = readResults();
  results[name] = value;
  mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n');
  const current = existsSync(BENCHMARKS_MD) ? readFileSync(BENCHMARKS_MD, 'utf8') : '# Benchmarks\n';
  const marked = new RegExp(`${begin(name)}\\n[\\s\\S]*?${end(name).replace(/\//g, '\\/')}\\n?`);
  const next = marked.test(current) ? current.replace(marked, section(name, markdown)) : `${current.trimEnd()}\n\n${section(name, markdown)}`;
  writeFileSync(BENCHMARKS_MD, next);
}
