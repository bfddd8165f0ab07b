import { u32Diff } from './seq.js'

/**
 * The base delay LEDBAT measures against: the lowest one-way delay sample of the last few minutes.
 * Samples are 32-bit microsecond differences between two unsynchronised clocks, so only their
 * differences mean anything; they are compared modulo 2^32. Keeping one minimum per minute and
 * forgetting old minutes lets the base follow a route change or a drifting clock (BEP 29, RFC 6817).
 */
export class DelayHistory {
  private readonly minutes: number[] = []
  private current: number | undefined
  private currentStart = 0
  private base: number | undefined

  constructor(
    private readonly bucketMs = 60_000,
    private readonly buckets = 3,
  ) {}

  /** Adds a sample; returns the queuing delay over the base, in microseconds (>= 0). */
  add(sampleUs: number, nowMs: number): number {
    if (this.current === undefined) {
      this.current = sampleUs
      this.currentStart = nowMs
    } else if (nowMs - this.currentStart >= this.bucketMs) {
      this.minutes.push(this.current)
      if (this.minutes.length > this.buckets - 1) this.minutes.shift()
      this.current = sampleUs
      this.currentStart = nowMs
      this.base = undefined
    } else if (u32Diff(sampleUs, this.current) < 0) {
      this.current = sampleUs
    }
    if (this.base === undefined) {
      this.base = this.current
      for (const m of this.minutes) if (u32Diff(m, this.base) < 0) this.base = m
    } else if (u32Diff(sampleUs, this.base) < 0) {
      this.base = sampleUs
    }
    return Math.max(0, u32Diff(sampleUs, this.base))
  }
}
