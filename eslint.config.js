import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': 'off',
    },
  },
  // DESIGN §1: dependencies point one way; core imports nothing of the other folders.
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['../cli/*', '../seed/*', '../agent/*', '../boot/*', '../swarm/*', '../raid/*', '../installers/*', '../templates/*'] }],
    },
  },
  {
    files: ['seed/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../agent/*', '../cli/*'] }] },
  },
  {
    files: ['agent/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../seed/*', '../cli/*'] }] },
  },
);
