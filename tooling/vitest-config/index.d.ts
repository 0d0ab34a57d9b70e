import type { ViteUserConfig } from 'vitest/config';

export declare const sourceCondition: '@sessionkit/source';
export declare function defineSessionkitProject(name: string, test?: ViteUserConfig['test']): ViteUserConfig;
