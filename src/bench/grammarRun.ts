/**
 * `npm run bench:grammar`: `host.grammar_overhead` on the starter model and a
 * 152,064-token vocabulary, into benchmarks/results.json (`grammar`) and its
 * section of BENCHMARKS.md. `npm run bench` measures it too.
 */
import { benchGrammar, grammarMarkdown } from './grammar';
import { writePart } from './report';
import { MODELS_DIR, writeShapeModel } from './shapeModel';

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
