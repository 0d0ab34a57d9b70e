// Shared vitest settings. Workspace packages resolve to their TypeScript sources through the
// `@sessionkit/source` export condition, so tests never need a build first.
import { defaultServerConditions } from 'vite';

export const sourceCondition = '@sessionkit/source';

/**
 * A vitest project named after the package.
 * @param {string} name
 * @param {import('vitest/config').ViteUserConfig['test']} [test]
 */
export function defineSessionkitProject(name, test = {}) {
  const conditions = [sourceCondition, ...defaultServerConditions];
  return {
    resolve: { conditions },
    ssr: { resolve: { conditions } },
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      environment: 'node',
      testTimeout: 30_000,
      hookTimeout: 30_000,
      ...test,
    },
  };
}
