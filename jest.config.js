/**
 * Two projects: `unit` (pure TypeScript, fast) and `integration` (a real
 * Jupyter server, ipykernel and the model host with the fixture GGUF).
 */
const esModules = [
  '@codemirror',
  '@jupyter/ydoc',
  '@jupyter/react-components',
  '@jupyter/web-components',
  '@jupyterlab/',
  '@lumino',
  '@microsoft',
  'exenv-es6',
  'lib0',
  'marked',
  'nanoid',
  'vscode-ws-jsonrpc',
  'y-protocols',
  'y-websocket',
  'yjs'
].join('|');

const tsJest = ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }];

const common = {
  preset: 'ts-jest/presets/js-with-ts',
  transform: { '^.+\\.[jt]sx?$': tsJest },
  transformIgnorePatterns: [`/node_modules/(?!${esModules}).+`],
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  modulePathIgnorePatterns: ['<rootDir>/.venv', '<rootDir>/lib', '<rootDir>/lib-node']
};

module.exports = {
  // With --coverage: every source file counts, also those no test loads (they show as 0%).
  collectCoverageFrom: ['src/**/*.{ts,tsx}', '!src/**/*.d.ts'],
  coverageDirectory: '<rootDir>/test-artifacts/coverage',
  coverageReporters: ['json-summary', 'text-summary', 'lcov'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/globalSetup.ts',
      slowTestThreshold: 60
    }
  ]
};
