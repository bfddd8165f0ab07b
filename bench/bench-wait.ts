const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls until `done()`, failing on `check()`'s answer or after `capMs`. */
export async function until(
  done: () => boolean,
  check: () => string | undefined,
  capMs: number,
): Promise<void> {
  const start = performance.now()
  while (!done()) {
    const problem =
      check() ?? (performance.now() - start > capMs ? `no result within ${capMs} ms` : undefined)
    if (problem) throw new Error(problem)
    await sleep(20)
  }
}

/** Calls back with a reason once `bytes()` has not grown for `ms` (of `total` bytes expected). */
export function stallWatch(
  bytes: () => number,
  describe: () => string,
  ms: number,
  total: number,
): () => string | undefined {
  let seen = -1
  let since = performance.now()
  return () => {
    const b = bytes()
    if (b !== seen) {
      seen = b
      since = performance.now()
      return undefined
    }
    return performance.now() - since > ms
      ? `stalled: no new bytes for ${ms / 1000} s at ${b} of ${total}; ${describe()}`
      : undefined
  }
}
