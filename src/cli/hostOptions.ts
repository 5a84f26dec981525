/**
 * The options that set up a model host, declared once for every command that
 * starts one (`serve`, and the embedded host of `run`, `eval`, `rollouts` and
 * the judge), each value checked here as it is parsed: a command passes on
 * only values `datarus serve` accepts. Their help differs by command, the
 * option does not.
 */
import { InvalidArgumentError, Option } from 'commander';
import * as path from 'node:path';

import { GpuOptionError, parseGpuChoice } from '../host/backend/backends';
import { defaultModelsDir } from '../headless/jupyterDataDir';
import { positiveInt } from './arguments';

// The manifests ship with the code: models/ in a checkout; the Python package
// sets $DATARUS_MANIFESTS_DIR to the copy it carries next to the bundled host.
const DEFAULT_MANIFESTS = process.env.DATARUS_MANIFESTS_DIR || path.resolve(__dirname, '..', '..', 'models');

/** `--gpu`: a backend or a list of them, in the host's own spelling. */
export function gpuChoice(value: string): string {
  try {
    return parseGpuChoice(value).text;
  } catch (err) {
    throw new InvalidArgumentError((err as GpuOptionError).message);
  }
}

export function threadsOption(description: string): Option {
  return new Option('-t, --threads <n>', description).argParser(positiveInt);
}

export function contextSizeOption(description: string): Option {
  return new Option('-c, --context-size <n>', description).argParser(positiveInt);
}

/** Also read from $DATARUS_GPU, checked the same way. */
export function gpuOption(description: string): Option {
  return new Option('--gpu <backend>', description).env('DATARUS_GPU').argParser(gpuChoice);
}

export function manifestsDirOption(): Option {
  return new Option('--manifests-dir <dir>', 'folder of manifests').default(DEFAULT_MANIFESTS);
}

export function modelsDirOption(): Option {
  return new Option('--models-dir <dir>', 'folder of GGUF files').default(defaultModelsDir());
}

/** The embedded host's options on a command that may start one (help: which backends the list shows). */
export function embeddedHostOptions(gpuHelp = 'embedded host: auto, cuda, cuda12, vulkan, metal, cpu'): Option[] {
  return [
    threadsOption('embedded host: CPU threads'),
    contextSizeOption('embedded host: context size in tokens'),
    gpuOption(gpuHelp)
  ];
}
