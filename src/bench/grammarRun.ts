/**
 * `npm run bench:grammar`: `host.grammar_overhead` on the starter model and a
 * 152,064-token vocabulary, into benchmarks/results.json (`grammar`) and its
 * section of BENCHMARKS.md. `npm run bench` measures it too.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

import { benchGrammar, grammarMarkdown } from './grammar';
import { writePart } from './report';

const ROOT = path.resolve(__dirname, '..', '..');
export const MODELS_DIR = path.join(ROOT, 'models', 'cache');

/** Writes a random qwen2-shaped GGUF with models/make_shape_model.py when it is not there yet. */
export function writeShapeModel(file: string, args: string[]): void {
  if (existsSync(file)) {
    return;
  }
  const venvPython = path.join(ROOT, '.venv', 'bin', 'python');
  const python = existsSync(venvPython) ? venvPython : 'python3';
  execFileSync(python, [path.join(ROOT, 'models', 'make_shape_model.py'), file, ...args], { stdio: 'inherit' });
}

async function main(): Promise<void> {
  const lib = await import('node-llama-cpp');
  const bench = await benchGrammar(lib, MODELS_DIR, writeShapeModel);
  const markdown = grammarMarkdown(bench);
  writePart('grammar', bench, markdown);
  process.stdout.write(markdown + '\n');
}

if (require.main === module) {
  main().catch(err => {
    process.stderr.write(`bench:grammar failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
