// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  { files: ['**/*.mjs', '**/*.js'], languageOptions: { globals: globals.node } },
  { files: ['src/cli/**', 'bench/**', 'examples/**', 'test/**', '**/*.test.ts'], rules: { 'no-console': 'off' } },
  // config/ is the ground floor: the rest of the gateway imports its config types from
  // it, and it imports from no other folder of src/ but errors/ and log/.
  {
    files: ['src/config/**/*.ts'],
    ignores: ['src/config/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./(?!errors/|log/)',
              message: 'src/config/ imports only from errors/ and log/ (docs/design.md): move what it needs into config/.',
            },
          ],
        },
      ],
    },
  },
  // Tests start gateways through test/helpers/gateway.ts, which binds port 0:
  // a fixed port (the default 8080) collides with `npm start` and other runs.
  {
    files: ['test/**/*.ts', 'src/**/*.test.ts'],
    ignores: ['test/helpers/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/server/gateway.js'],
              importNames: ['startGateway'],
              message: 'Start gateways with startTestGateway or startGatewayFrom (test/helpers/gateway.ts): they bind port 0.',
            },
          ],
        },
      ],
    },
  },
);
