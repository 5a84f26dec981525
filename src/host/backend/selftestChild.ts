/**
 * The self-test child: `node selftestChild.js <backend> <model.gguf>`. Loads the
 * backend, offloads the tiny model, decodes a few tokens, prints one JSON line.
 * Whatever goes wrong here (even an abort in native code) ends only this process.
 *
 * DATARUS_TEST_SELFTEST_FAULT=<backend>:abort|exit|hang (test-only) makes the child
 * fail that way for that backend after loading the CPU backend, so CI without a
 * GPU exercises the fallback chain on the real path.
 */
import type { Backend } from './backends';
import { startLlama } from './backends';
import { Fault, faultFor } from '../selftestFault';

const SELFTEST_DECODE_TOKENS = 4;

// In a module of its own so the host can use it without bundling this program's main.
export { faultFor };

async function main(backend: string, modelPath: string): Promise<void> {
  const fault = faultFor(backend);
  const lib = await import('node-llama-cpp');
  const llama = await startLlama(lib, fault ? 'cpu' : (backend as Backend));
  const model = await llama.loadModel({ modelPath, gpuLayers: 'max' });
  const context = await model.createContext({ contextSize: 128, threads: 1 });
  const sequence = context.getSequence();
  if (fault) {
    return injectFault(fault);
  }
  // The first decode is where a CUDA binary built for a newer driver aborts.
  let decoded = 0;
  for await (const _token of sequence.evaluate(model.tokenize('hello'), { temperature: 0 })) {
    if (++decoded >= SELFTEST_DECODE_TOKENS) {
      break;
    }
  }
  process.stdout.write(JSON.stringify({ ok: true, backend: llama.gpu || 'cpu', gpuLayers: model.gpuLayers, decoded }) + '\n');
  await context.dispose();
  await model.dispose();
  await llama.dispose();
}

function injectFault(fault: Fault): Promise<void> {
  if (fault === 'abort') {
    process.stderr.write('CUDA error: the provided PTX was compiled with an unsupported toolchain. (simulated by DATARUS_TEST_SELFTEST_FAULT)\n');
    process.abort();
  } else if (fault === 'exit') {
    process.stderr.write('ggml error: failed to initialize the device (simulated by DATARUS_TEST_SELFTEST_FAULT)\n');
    process.exit(3);
  }
  return new Promise(() => setInterval(() => undefined, 1 << 30)); // never answers
}

if (require.main === module) {
  const [backend, modelPath] = process.argv.slice(2);
  main(backend, modelPath).then(
    () => process.exit(0),
    err => {
      process.stdout.write(JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) }) + '\n');
      process.exit(1);
    }
  );
}
