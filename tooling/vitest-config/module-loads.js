// For tests that prove a dependency is loaded lazily: call trackModuleLoads(logFile) first in a
// child process, then `loaded('ws')` says how often files of that package were loaded. Two
// checks, so that neither way of loading goes unseen: a resolve hook records every ES module
// import (a static `import ... from 'ws'` shows there), and require.cache holds every module
// loaded by require() (CommonJS packages, and ES modules loaded with require()).
import { readFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const hooks = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(log, result.url + '\\n');
  return result;
}`;

/** @param {string} log a file the resolve hook appends every resolved URL to */
export function trackModuleLoads(log) {
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, import.meta.url, { data: { log } });
  const require = createRequire(import.meta.url);
  return (name) => {
    const pattern = `/node_modules/${name}/`;
    return {
      imported: readFileSync(log, 'utf8').split('\n').filter((line) => line.includes(pattern)).length,
      required: Object.keys(require.cache).filter((file) => file.includes(pattern)).length,
    };
  };
}
