/**
 * A download cap kept by pacing requests: blocks may be asked for while everything already asked for
 * would arrive, at the cap, within `aheadMs` from now. Pacing the asking rather than the reading keeps
 * the data from piling up in socket buffers and peers' send queues, and leaves the peers' upload to
 * others. Pure: the caller passes the time (ms).
 */
export class RequestBudget {
  /** When the bytes booked so far would have arrived at the cap. */
  private bookedUntil = 0

  constructor(
    private readonly bytesPerSecond: number,
    private readonly aheadMs = 500,
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError('a download cap must be above 0 bytes per second')
  }

  /**
   * How many of `wanted` blocks of `blockBytes` may be requested at `now`. At least one whenever
   * nothing is booked, so a cap below one block per `aheadMs` still moves, a block at a time.
   */
  blocks(now: number, wanted: number, blockBytes: number): number {
    const booked = Math.max(0, this.bookedUntil - now)
    // (The epsilon keeps a block that fits exactly, at `nextAt`, from rounding down to none.)
    const fit = Math.floor(((this.aheadMs - booked) * this.bytesPerSecond) / 1000 / blockBytes + 1e-9)
    return Math.min(wanted, Math.max(fit, booked === 0 ? 1 : 0))
  }

  /** Books `bytes` just requested at `now`. */
  book(bytes: number, now: number): void {
    this.bookedUntil = Math.max(this.bookedUntil, now) + (bytes * 1000) / this.bytesPerSecond
  }

  /** The earliest time (>= now) at which another block of `blockBytes` may be requested. */
  nextAt(now: number, blockBytes: number): number {
    const blockMs = (blockBytes * 1000) / this.bytesPerSecond
    return Math.max(now, Math.min(this.bookedUntil, this.bookedUntil - this.aheadMs + blockMs))
  }
}
