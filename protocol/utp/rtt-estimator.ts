/**
 * Round-trip time and retransmission timeout, as BEP 29 gives them:
 *   delta = rtt - packet_rtt; rtt_var += (|delta| - rtt_var) / 4; rtt += (packet_rtt - rtt) / 8
 *   timeout = max(rtt + rtt_var * 4, 500 ms)
 * Only packets sent once give samples (Karn), so a retransmission never skews the estimate.
 */
export class RttEstimator {
  private srtt = 0
  private rttVar = 0
  private sampled = false
  /** Consecutive timeouts: each doubles the timeout until an ack arrives. */
  private backoff = 0

  constructor(
    private readonly minTimeoutMs = 500,
    private readonly maxTimeoutMs = 8_000,
    private readonly initialTimeoutMs = 1_000,
  ) {}

  private min = Number.POSITIVE_INFINITY

  sample(rttMs: number): void {
    if (rttMs < this.min) this.min = rttMs
    if (!this.sampled) {
      this.srtt = rttMs
      this.rttVar = rttMs / 2
      this.sampled = true
    } else {
      const delta = this.srtt - rttMs
      this.rttVar += (Math.abs(delta) - this.rttVar) / 4
      this.srtt += (rttMs - this.srtt) / 8
    }
  }

  /** An ack made progress: the path works again. */
  resetBackoff(): void {
    this.backoff = 0
  }

  onTimeout(): void {
    if (this.backoff < 16) this.backoff++
  }

  get rtt(): number {
    return this.sampled ? this.srtt : this.initialTimeoutMs
  }

  /** Lowest RTT seen: the path without queues, which scales the reordering allowance. */
  get minRtt(): number {
    return Number.isFinite(this.min) ? this.min : this.rtt
  }

  get hasSample(): boolean {
    return this.sampled
  }

  get timeoutMs(): number {
    const base = this.sampled
      ? Math.max(this.srtt + 4 * this.rttVar, this.minTimeoutMs)
      : this.initialTimeoutMs
    return Math.min(base * 2 ** this.backoff, Math.max(this.maxTimeoutMs, base))
  }
}
