import type { Random } from '../../protocol/clock.js'

/** A small seeded xorshift32 generator for tests that need deterministic randomness. */
export function xorshiftRandom(seed: number): Random {
  let x = seed >>> 0 || 1
  const next32 = () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
  return {
    next: () => next32() / 2 ** 32,
    int: (n) => next32() % n,
    bytes: (b) => {
      for (let i = 0; i < b.length; i++) b[i] = next32() & 0xff
      return b
    },
  }
}
