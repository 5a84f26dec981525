/**
 * Random-weight GGUFs of a given shape for the benchmarks (models/make_shape_model.py), in a module
 * without a main of its own: a bundle of a bench that imports it (scripts/gpu-pack.mjs) runs only its own.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
export const MODELS_DIR = path.join(ROOT, 'models', 'cache');

/** Writes a random qwen2-shaped GGUF with models/make_shape_model.py when it is not there yet. */
export function writeShapeModel(file: string, args: string[]): void {
  if (existsSync(file)) {
    return;
  }
  const venvPython = path.join(ROOT, '.venv', 'bin', 'python');
  const python = existsSync(venvPython) ? venvPython : 'python3';
  // Its messages to stderr: a bench's stdout is its Markdown.
  execFileSync(python, [path.join(ROOT, 'models', 'make_shape_model.py'), file, ...args], { stdio: ['ignore', 2, 'inherit'] });
}

