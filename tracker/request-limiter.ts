import { addressLimitKey, KeyedRateLimiter } from '../protocol/rendezvous/rate-limiter.js'

/** Addresses tracked at once; beyond it the stalest is forgotten (memory stays bounded under a flood). */
const MAX_TRACKED_ADDRESSES = 100_000

/**
 * Announces and scrapes per source address (IPv6: per /64), shared by HTTP and UDP so an address
 * cannot double its share by using both. Only requests whose source is proven reach it (a TCP
 * connection, or a BEP 15 connection id issued to that address), so spoofed datagrams cannot fill it
 * with made-up addresses.
 */
export class RequestLimiter {
  private readonly buckets?: KeyedRateLimiter

  /** `ratePerSecond` 0: no limit. */
  constructor(ratePerSecond: number, burst: number, maxAddresses = MAX_TRACKED_ADDRESSES) {
    if (ratePerSecond > 0) {
      this.buckets = new KeyedRateLimiter(ratePerSecond, Math.max(1, burst), maxAddresses)
    }
  }

  /** Takes one request's share for `ip` at `now` (ms); false when the address is over its rate. */
  admit(ip: string, now: number): boolean {
    return this.buckets ? this.buckets.take(addressLimitKey(ip), now) : true
  }

  /** Addresses currently tracked. */
  get size(): number {
    return this.buckets?.size ?? 0
  }
}
