/**
 * The direction of imports between the source folders (ARCHITECTURE.md):
 * protocol ← episode ← contract ← agent ← {lab, host} ← headless ← {cli, bench}:
 * the headless library is what the command line (src/cli/) and the benchmarks call.
 * The contract (what browser and host send each other) is types and constants:
 * it names the record types below it but runs none of their code. The browser
 * build (lab and the core) never sees Node, and the core never sees JupyterLab.
 * Checked by test/unit/layers.test.ts, which also checks that no folders of src/ import each other in a loop.
 */
/** The folders a folder may import from, besides itself and npm packages. */
const MAY_IMPORT = {
  protocol: [],
  episode: ['protocol'],
  contract: ['protocol', 'episode'],
  agent: ['protocol', 'episode', 'contract'],
  lab: ['protocol', 'contract', 'episode', 'agent'],
  host: ['protocol', 'contract', 'episode', 'agent'],
  headless: ['protocol', 'contract', 'episode', 'agent', 'host']
};

/** Code that runs in the browser (and, for the core, in Node too): no Node built-ins. */
const BROWSER = '^src/(lab|agent|episode|protocol|contract)/';
/** The core, which runs anywhere. */
const CORE = '^src/(agent|episode|protocol|contract)/';

const layerRules = Object.entries(MAY_IMPORT).map(([folder, allowed]) => ({
  name: `${folder}-imports-down-only`,
  comment: `src/${folder}/ may import ${allowed.length ? allowed.map(a => `src/${a}/`).join(', ') : 'nothing of ours'}`,
  severity: 'error',
  from: { path: `^src/${folder}/` },
  to: { path: `^src/(?!(${[folder, ...allowed].join('|')})/)` }
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'contract-types-only',
      comment: 'the contract only names the types of the layers below it (both builds compile it; nothing of theirs runs in it)',
      severity: 'error',
      from: { path: '^src/contract/' },
      to: { path: '^src/(?!contract/)', dependencyTypesNot: ['type-only'] }
    },
    {
      name: 'node-side-not-lab',
      comment: 'cli, bench and headless run in Node: the JupyterLab plugin (src/lab/) is browser code',
      severity: 'error',
      from: { path: '^src/(cli|bench|headless)/' },
      to: { path: '^src/lab/' }
    },
    {
      name: 'browser-no-node-builtins',
      comment: 'the browser build cannot import Node built-ins',
      severity: 'error',
      from: { path: BROWSER },
      to: { dependencyTypes: ['core'] }
    },
    {
      name: 'core-no-jupyterlab',
      comment:
        'the core runs in the browser and in Node without JupyterLab; the kernel runner (src/agent/) only names the types of the kernel its caller connected',
      severity: 'error',
      from: { path: CORE },
      to: { path: '^node_modules/(@jupyterlab|@lumino|@jupyter)/', dependencyTypesNot: ['type-only'] }
    },
    {
      name: 'lower-core-no-jupyterlab-types',
      comment: 'protocol, episode and the contract do not even name JupyterLab types',
      severity: 'error',
      from: { path: '^src/(episode|protocol|contract)/' },
      to: { path: '^node_modules/(@jupyterlab|@lumino|@jupyter)/' }
    },
    {
      name: 'no-circular',
      comment: 'modules that load each other depend on load order; a cycle through types alone is harmless at run time',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type is a dependency too.
    tsPreCompilationDeps: true,
    exclude: { path: '\\.d\\.ts$' }
  }
};
