// ESLint with typescript-eslint's type-aware rules (floating promises, unsafe any, …) over the
// code, the tests and the benchmarks. A rule that fires is fixed, not silenced.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test/fixtures/', '.tap/', '.dependency-cruiser.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.lint.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // tap tracks its own subtests: the promise `t.test()` returns is tap's to await.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  // The product speaks through its logger (src/log.ts) and the CLI's own output.
  { files: ['src/**/*.ts'], rules: { 'no-console': 'error' } },
  {
    // tap's contract: a test callback that returns a promise ends when it settles, a plain one
    // must call t.end(). `async (t) => {…}` is how a test says "end when I return", awaits or not.
    files: ['test/**/*.test.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], ...tseslint.configs.disableTypeChecked },
  {
    // The pages' scripts (src/web/assets) run in the browser, as ES modules: these are its globals.
    files: ['src/web/assets/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(['document', 'window', 'Node', 'ResizeObserver', 'fetch', 'AbortController', 'TextDecoderStream', 'sessionStorage', 'setTimeout']
        .map((name) => [name, 'readonly'])),
    },
  },
);
