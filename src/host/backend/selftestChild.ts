/**
 * The self-test child: `node selftestChild.js <backend> <model.gguf>`. Loads the
 * backend, offloads the tiny model, decodes a few tokens, prints one JSON line.
 * Whatever goes wrong here (even an abort in native code) ends only this process.
 */
import type { Backend } from './backends';
import { startLlama } from './backends';

const SELFTEST_DECODE_TOKENS = 4;

async function main(backend: string, modelPath: string): Promise<void> {
  const lib = await import('node-llama-cpp');
  const llama = await startLlama(lib, backend as Backend);
  const model = await llama.loadModel({ modelPath, gpuLayers: 'max' });
  const context = await model.createContext({ contextSize: 128, threads: 1 });
  const sequence = context.getSequence();
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
