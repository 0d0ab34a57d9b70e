import { createConfig } from '@sessionkit/eslint-config';

export default createConfig({ rootDir: import.meta.dirname });
