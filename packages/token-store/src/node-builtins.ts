/**
 * The Node.js built-ins the file adapter uses, imported once, each as a namespace
 * (`fs.unlink(…)`). A bundler keeps one import statement per importing module, so importing them
 * here instead of in each module keeps `/file` about 100 bytes (min+gzip) smaller; as namespaces,
 * rather than named imports (whose every alias the bundle's import statements list), about 40
 * bytes more.
 * @module
 */
export * as crypto from 'node:crypto';
export * as fsSync from 'node:fs';
export type { Stats } from 'node:fs';
export * as fs from 'node:fs/promises';
export type { FileHandle } from 'node:fs/promises';
export * as os from 'node:os';
// Typed with `export =`, which `export * as` cannot re-export.
import * as nodePath from 'node:path';

export { nodePath };
