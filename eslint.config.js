// ESLint with type information: the rules that catch real bugs in an async daemon
// (floating promises, non-exhaustive switches over unions) are errors.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      '.ci/',
      'state/',
      'eslint.config.js',
      'bench/.cache/',
      'bench/child.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      // Flags winston's own transports; it guards against structural look-alikes we do not write.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use a string union or an as-const object.' },
      ],
    },
  },
  {
    // No import cycles: each folder is one concern, and a cycle is two concerns grown into one.
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      // Imports name the emitted .js file; the source is the .ts beside it.
      'import-x/resolver-next': [createNodeResolver({ extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // The state is reached through the ports of store/ports.ts: only store/ knows SQLite.
    files: ['src/**/*.ts'],
    ignores: ['src/store/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['better-sqlite3'], message: 'Use the ports of store/ports.ts.' },
            {
              group: ['**/store/sqlite/*', '**/store/memory/*'],
              message: 'Use the ports of store/ports.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    // The pure core must not reach for I/O, the clock or a logger (STYLE.md).
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['node:*', 'winston', 'ldapts', 'better-sqlite3', 'nodemailer'] },
      ],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'Pass a clock.' }],
    },
  },
);
