import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'native/', 'web/dist/', 'test-artifacts/'] },
  js.configs.recommended,
  { languageOptions: { globals: { ...globals.node } } },
  ...tseslint.configs.recommended,
  {
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['web/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // Tests, benchmarks and the CLI entry talk to a terminal on purpose.
    files: ['test/**', 'bench/**', 'src/cli/**', 'examples/**', 'bin/**'],
    rules: { 'no-console': 'off' },
  },
);
