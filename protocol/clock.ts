/**
 * Time, injected. `protocol/` never reads the real clock or sets real timers: shells pass a real
 * clock (client/real-clock.ts) and simulations pass a virtual one (test/sim/virtual-clock.ts).
 */

/** Opaque handle returned by `setTimer`. */
export type TimerHandle = { readonly __timer: unique symbol } | number | object

export interface Clock {
  /** Milliseconds on a monotonic scale; only differences are meaningful. */
  now(): number
  /** Calls `fn` once after `ms` milliseconds of this clock's time. */
  setTimer(ms: number, fn: () => void): TimerHandle
  clearTimer(handle: TimerHandle): void
  /** An AbortSignal that aborts with a `TimeoutError` DOMException after `ms` of this clock's time. */
  timeoutSignal(ms: number): AbortSignal
}

/** Seeded randomness, injected for the same reason as the clock. */
export interface Random {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [0, n). */
  int(n: number): number
  /** Fills `buf` with random bytes and returns it. */
  bytes(buf: Uint8Array): Uint8Array
}
