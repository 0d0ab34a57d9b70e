/** What `make` throws (undefined when it does not): for checks of synchronous argument errors. */
export function thrownBy(make: () => unknown): unknown {
  try {
    make();
  } catch (error) {
    return error;
  }
  return undefined;
}
