import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const VENV_BIN = path.join(ROOT, '.venv', 'bin');
export const PYTHON = path.join(VENV_BIN, 'python');
export const CLI = path.join(ROOT, 'bin', 'datarus.js');
export const MODELS_DIR = path.join(ROOT, 'models', 'cache');
export const MANIFESTS_DIR = path.join(ROOT, 'models');
export const FIXTURE = path.join(MODELS_DIR, 'datarus-test-tiny.gguf');
