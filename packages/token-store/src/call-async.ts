/**
 * Runs `fn` now and returns its result as a promise; a synchronous throw becomes a rejection,
 * so callers of a promise-returning method never see an exception escape synchronously.
 */
export function callAsync<T>(fn: () => T | PromiseLike<T>): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(fn());
  });
}
