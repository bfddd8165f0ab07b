/**
 * Bytes per second over the last few seconds, as an exponentially weighted average of one-second
 * buckets. The choker ranks peers by it and the request pipeline sizes itself by it.
 */
export class RateMeter {
  private bucket = 0
  private bucketStart: number
  private rate = 0
  /** A whole bucket has been seen: before that there is no average to blend with. */
  private primed = false
  total = 0

  constructor(
    private readonly now: () => number,
    private readonly halfLifeMs = 5_000,
  ) {
    this.bucketStart = now()
  }

  add(bytes: number): void {
    this.roll()
    this.bucket += bytes
    this.total += bytes
  }

  /** Bytes per second. */
  get perSecond(): number {
    this.roll()
    const elapsed = this.now() - this.bucketStart
    // The open bucket counts in proportion to how much of it has passed.
    return elapsed > 0 && !this.primed ? (this.bucket * 1000) / Math.max(elapsed, 250) : this.rate
  }

  private roll(): void {
    const now = this.now()
    while (now - this.bucketStart >= 1000) {
      const alpha = 1 - 0.5 ** (1000 / this.halfLifeMs)
      // The first second with data is the first estimate: averaging it with the silence before
      // would report a fraction of the real rate for several seconds.
      if (this.primed) this.rate += alpha * (this.bucket - this.rate)
      else if (this.bucket > 0) {
        this.rate = this.bucket
        this.primed = true
      }
      this.bucket = 0
      this.bucketStart += 1000
      // A long silence: skip ahead instead of looping once per second of it.
      if (now - this.bucketStart > 60_000) {
        this.rate = 0
        this.primed = false
        this.bucketStart = now
      }
    }
  }
}
