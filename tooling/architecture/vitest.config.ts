import { defineSessionkitProject } from '@sessionkit/vitest-config';
import type { ViteUserConfig } from 'vitest/config';

const config: ViteUserConfig = defineSessionkitProject('@sessionkit/architecture');

export default config;
