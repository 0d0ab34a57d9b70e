import type { BenchmarkSuite } from '../types.js';
import { suite as bundleSize } from './bundle-size.js';
import { suite as coldImport } from './cold-import.js';
import { suite as coreSession } from './core-session.js';
import { suite as essClient } from './ess-client.js';
import { suite as httpClient } from './http-client.js';
import { suite as restClient } from './rest-client.js';
import { suite as tokenHerd } from './token-herd.js';
import { suite as tokenHerdProcesses } from './token-herd-processes.js';

/** Every suite `pnpm bench` runs, in order. */
export const suites: readonly BenchmarkSuite[] = [coreSession, tokenHerd, tokenHerdProcesses, httpClient, restClient, essClient, bundleSize, coldImport];
