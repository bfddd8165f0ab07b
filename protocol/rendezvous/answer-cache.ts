/**
 * Recent connect-acks by requester endpoint and transaction id. A requester resends a connect-request
 * whose ack was lost with the same transaction id; answering that resend with the same ack (and no
 * second push) keeps one punch per request, instead of a second nonce that strands the target's first
 * punch. Bounded in entries and age; the ack is never larger than the request it answers.
 */
export class AnswerCache {
  private readonly entries = new Map<string, { bytes: Uint8Array; at: number }>()

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get(key: string, now: number): Uint8Array | undefined {
    const e = this.entries.get(key)
    return e && now - e.at <= this.ttlMs ? e.bytes : undefined
  }

  set(key: string, bytes: Uint8Array, now: number): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
    this.entries.set(key, { bytes, at: now })
  }

  /** Forgets answers older than the TTL (insertion order is age order). */
  expire(now: number): void {
    for (const [k, e] of this.entries) {
      if (now - e.at <= this.ttlMs) break
      this.entries.delete(k)
    }
  }

  /** When the oldest answer expires, or undefined when empty. */
  nextExpiry(): number | undefined {
    const oldest = this.entries.values().next().value
    return oldest ? oldest.at + this.ttlMs + 1 : undefined
  }
}
