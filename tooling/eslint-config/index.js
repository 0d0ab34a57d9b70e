// Shared flat config for every workspace package: typescript-eslint strictTypeChecked and
// stylisticTypeChecked with type information, plus the house rules from CONVENTIONS.md.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Bare built-in specifiers (`fs`, `fs/promises`, ...): the `node:` form is required. */
const bareBuiltins = builtinModules.filter((name) => !name.startsWith('_') && !name.startsWith('node:'));

/**
 * @param {{ rootDir: string, allowConsole?: boolean, ignores?: string[] }} options
 *   rootDir: the package directory (pass `import.meta.dirname`).
 *   allowConsole: apps and command-line entry points print to the terminal; packages use the logger.
 */
export function createConfig({ rootDir, allowConsole = false, ignores = [] }) {
  return tseslint.config(
    { ignores: ['dist/**', 'coverage/**', 'results/**', 'bin/**', 'eslint.config.js', ...ignores] },
    js.configs.recommended,
    ...tseslint.configs.strictTypeChecked,
    ...tseslint.configs.stylisticTypeChecked,
    {
      languageOptions: {
        parserOptions: { projectService: true, tsconfigRootDir: rootDir },
      },
      linterOptions: { reportUnusedDisableDirectives: 'error' },
      rules: {
        '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
        '@typescript-eslint/no-import-type-side-effects': 'error',
        // Numbers and booleans in template strings are ordinary and readable.
        '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
        // A leading underscore marks a parameter a signature needs but the body does not use.
        '@typescript-eslint/no-unused-vars': [
          'error',
          { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
        ],
        'no-console': allowConsole ? 'off' : 'error',
        'no-restricted-imports': [
          'error',
          {
            paths: bareBuiltins.map((name) => ({ name, message: `Import 'node:${name}' instead.` })),
          },
        ],
        'no-restricted-syntax': [
          'error',
          { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' },
          { selector: 'ExportSpecifier[exported.name="default"]', message: 'Use named exports.' },
        ],
      },
    },
    {
      // A package's command-line entry point (such as the sandbox's `src/cli.ts`) talks to the
      // terminal; the rest of a package logs through @sessionkit/logger.
      files: ['**/cli.ts'],
      rules: { 'no-console': 'off' },
    },
    {
      // Config files are loaded by tools that expect a default export.
      files: ['*.config.ts'],
      rules: { 'no-restricted-syntax': 'off' },
    },
    {
      // Tests may use non-null assertions on values they have just asserted.
      files: ['**/*.test.ts', '**/test/**/*.ts'],
      rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
    },
  );
}
