// ESLint flat config: typescript-eslint's recommended and strict rules, with type information where it
// pays (promises that nobody awaits or that are passed where a callback returns void). Formatting is
// Prettier's job, not ESLint's.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'bench/results/', 'test-artifacts/', '.probex-tmp/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended, tseslint.configs.strict],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test() and describe() return promises that the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // noUncheckedIndexedAccess is on: `xs[i]!` after a bounds check is how this code reads a checked index.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `const { le: _le, ...rest } = x` is how this code drops a key.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    // The main thread only serves HTTP from the snapshot: the config parser and validator (zod, js-yaml) run
    // on a thread of their own (workers/config-worker.ts) and the HDR library on the background thread, so
    // the files the main thread loads may name their types but never load them, directly or through the
    // modules that do.
    files: [
      'src/main.ts',
      'src/process/serve.ts',
      'src/process/reload.ts',
      'src/process/shutdown.ts',
      'src/process/stats-relay.ts',
      'src/process/coalesce.ts',
      'src/access.ts',
      'src/log.ts',
      'src/config/web-settings.ts',
      'src/config/read-file.ts',
      'src/http/**/*.ts',
      'src/snapshot/**/*.ts',
    ],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['zod', 'js-yaml', 'hdr-histogram-js'],
              allowTypeImports: true,
              message: 'the main thread never loads the config parser or the HDR library',
            },
            {
              group: [
                '**/config/*',
                '!**/config/web-settings.ts',
                '!**/config/read-file.ts',
                '**/*-config.ts',
                '**/hdr/*',
              ],
              allowTypeImports: true,
              message: 'this module loads zod, js-yaml or the HDR library: import its types only',
            },
          ],
        },
      ],
    },
  },
  {
    // A probe module runs in the probe workers, which never load the config's parser and validator: it
    // names its target's type, and each kind's config (its keys, in zod) sits beside it in <kind>-config.ts.
    files: ['src/probes/*.ts'],
    ignores: ['src/probes/*-config.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['zod', 'js-yaml', '**/config/*', '!**/config/read-file.ts', '**/*-config.ts'],
              allowTypeImports: true,
              message: 'the probe workers never load the config parser: import its types only',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
);
