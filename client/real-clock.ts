import { randomBytes, randomInt } from 'node:crypto'
import type { Clock, Random, TimerHandle } from '../protocol/clock.js'

/** The wall of the real world: performance.now() and Node timers. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms)
    t.unref?.()
    return t as unknown as TimerHandle
  },
  clearTimer(h) {
    clearTimeout(h as unknown as NodeJS.Timeout)
  },
  timeoutSignal: (ms) => AbortSignal.timeout(ms),
}

/** Cryptographic randomness for real use; simulations inject a seeded PRNG instead. */
export const realRandom: Random = {
  next: () => randomInt(0, 2 ** 48) / 2 ** 48,
  int: (n) => randomInt(0, n),
  bytes: (buf) => {
    buf.set(randomBytes(buf.length))
    return buf
  },
}
