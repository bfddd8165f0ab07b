import { ipToBytes } from '../ip-address.js'

/**
 * Token buckets keyed by string, with a bounded number of keys: when full, the stalest key is
 * forgotten (a forgotten key starts with a full bucket, so the bound trades a little precision for
 * memory that a flood of fresh keys cannot grow).
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one token for `key` at time `now` (ms); false if the key is over its rate. */
  take(key: string, now: number): boolean {
    let b = this.buckets.get(key)
    if (b) {
      this.buckets.delete(key) // re-insert below keeps Map order = least recently used first
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.ratePerSecond)
      b.at = now
    } else {
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next().value
        if (oldest !== undefined) this.buckets.delete(oldest)
      }
      b = { tokens: this.burst, at: now }
    }
    this.buckets.set(key, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  get size(): number {
    return this.buckets.size
  }
}

/**
 * The key one address is rate-limited under: an IPv4 address, or the /64 prefix of an IPv6 address
 * (one subscriber usually holds a whole /64, so per-address keys would cost an attacker nothing).
 */
export function addressLimitKey(ip: string): string {
  if (!ip.includes(':')) return ip
  try {
    const b = ipToBytes(ip)
    return b.length === 4 ? b.join('.') : `${Buffer.from(b.subarray(0, 8)).toString('hex')}/64`
  } catch {
    return ip
  }
}
