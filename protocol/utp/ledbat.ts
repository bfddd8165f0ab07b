import { DelayHistory } from './delay-history.js'

/** BEP 29's CCONTROL_TARGET: the queuing delay LEDBAT aims to add, microseconds. */
export const LEDBAT_TARGET_US = 100_000
/**
 * Slow start ends once the queue it builds reaches this share of the target: half, not LEDBAT++'s
 * three quarters, because a home router's buffer may hold less than the target before it drops.
 */
const SLOW_START_EXIT = 0.5
/** Smallest delay-driven window cut (see `onAck`). */
const MIN_DECREASE = 0.1
/**
 * Below the target the window grows by at least this share of the full gain per RTT. BEP 29's growth
 * fades to nothing near the target, leaving no additive-increase phase to equalise competing flows.
 */
const MIN_INCREASE_FACTOR = 0.3
/** BEP 29's MAX_CWND_INCREASE_BYTES_PER_RTT. */
export const LEDBAT_GAIN_BYTES_PER_RTT = 3000

export interface LedbatOptions {
  mss: number
  targetDelayUs?: number
  gainBytesPerRtt?: number
  /** Upper bound on the window, bytes. */
  maxWindow?: number
}

/**
 * LEDBAT congestion control (BEP 29 / RFC 6817): the window grows while the one-way queuing delay is
 * below the target and shrinks when above, so a uTP upload sits on top of the path's empty queue and
 * gets out of the way of interactive traffic.
 *
 * Two departures from the BEP's formula, both from LEDBAT++ (draft-irtf-iccrg-ledbat-plus-plus):
 * - Above the target the window shrinks in proportion to its size (at least 10%, at most half, once
 *   per RTT) instead of by a fixed amount, so two flows on one bottleneck converge to equal shares.
 * - A slow start doubles the window per RTT until the delay nears the target or a loss, so a fast
 *   path is filled in a few RTTs instead of growing 3000 bytes per RTT.
 * Loss halves the window once per RTT; a timeout drops it to one packet (BEP 29) and slow-starts back
 * to half the window that timed out.
 */
export class Ledbat {
  private window: number
  private slowStart = true
  /** Slow start ends at this window (after a timeout: half the window that timed out). */
  private ssthresh = Number.POSITIVE_INFINITY
  private readonly history = new DelayHistory()
  private readonly mss: number
  private readonly target: number
  private readonly gain: number
  private readonly maxWindow: number
  private lastDelayUs = 0
  /** The last few queuing-delay samples: LEDBAT acts on their minimum (RFC 6817's FILTER), so one
   * packet held back by reordering does not read as a full queue. */
  private readonly recent = new Float64Array(4)
  private recentCount = 0
  /** No second delay-driven cut until this time: one per RTT. */
  private decreaseHoldUntil = Number.NEGATIVE_INFINITY
  /** No second halving until this time: one window reduction per RTT. */
  private lossHoldUntil = Number.NEGATIVE_INFINITY
  /** The window before the last loss reduction, restored if that loss proves spurious. */
  private windowBeforeLoss: number | undefined
  private slowStartBeforeLoss = false

  constructor(o: LedbatOptions) {
    this.mss = o.mss
    this.target = o.targetDelayUs ?? LEDBAT_TARGET_US
    this.gain = o.gainBytesPerRtt ?? LEDBAT_GAIN_BYTES_PER_RTT
    this.maxWindow = o.maxWindow ?? 64 * 1024 * 1024
    this.window = 2 * o.mss
  }

  /** Congestion window, bytes. */
  get cwnd(): number {
    return this.window
  }

  /** Last measured queuing delay over the base, microseconds. */
  get queuingDelayUs(): number {
    return this.lastDelayUs
  }

  get inSlowStart(): boolean {
    return this.slowStart
  }

  /**
   * An ack covered `bytesAcked`; `delaySampleUs` is the one-way delay the peer measured for our
   * packets (its timestamp_difference). `cwndLimited`: the sender had filled the window, so growth
   * is earned (an application-limited sender must not inflate a window it never used).
   */
  onAck(bytesAcked: number, delaySampleUs: number, nowMs: number, rttMs: number, cwndLimited: boolean): void {
    if (bytesAcked <= 0) return
    this.recent[this.recentCount++ % this.recent.length] = this.history.add(delaySampleUs, nowMs)
    let delay = Number.POSITIVE_INFINITY
    for (let i = 0; i < Math.min(this.recentCount, this.recent.length); i++)
      delay = Math.min(delay, this.recent[i]!)
    this.lastDelayUs = delay
    const offTarget = (this.target - delay) / this.target
    if (this.slowStart) {
      if (delay > this.target * SLOW_START_EXIT || this.window >= this.ssthresh) {
        this.slowStart = false
      } else if (cwndLimited) {
        this.window = Math.min(this.maxWindow, this.ssthresh, this.window + bytesAcked)
        return
      } else {
        return
      }
    }
    if (offTarget >= 0) {
      if (!cwndLimited) return
      const gain = this.gain * Math.max(offTarget, MIN_INCREASE_FACTOR)
      this.window = Math.min(this.maxWindow, this.window + (gain * bytesAcked) / this.window)
      return
    }
    // Over the target: a multiplicative cut, once per RTT, by the overshoot (LEDBAT++) but at least
    // MIN_DECREASE. The floor makes the queue swing around the target rather than settle on it, so
    // flows whose base-delay estimates differ by some jitter all see both sides of it and converge
    // to equal shares, as AIMD flows do; settled exactly on the target, they would drift apart.
    if (nowMs < this.decreaseHoldUntil) return
    this.decreaseHoldUntil = nowMs + rttMs
    const cut = Math.min(0.5, Math.max(MIN_DECREASE, delay / this.target - 1))
    this.window = Math.max(this.mss, this.window * (1 - cut))
  }

  /**
   * A delay sample that acks no data (the answer to our SYN). It still counts toward the base delay:
   * sent before any of our data, it is the likeliest to have met an empty queue.
   */
  observeDelay(delaySampleUs: number, nowMs: number): void {
    this.history.add(delaySampleUs, nowMs)
  }

  /** A packet was lost (fast retransmit): halve, once per RTT. */
  onLoss(nowMs: number, rttMs: number): void {
    if (nowMs < this.lossHoldUntil) return
    this.lossHoldUntil = nowMs + rttMs
    this.slowStartBeforeLoss = this.slowStart
    this.slowStart = false
    this.windowBeforeLoss = this.window
    this.window = Math.max(this.mss, this.window / 2)
  }

  /** The packet taken for lost had only been reordered: take the last halving back (Eifel, RFC 3522). */
  undoLoss(): void {
    if (this.windowBeforeLoss === undefined) return
    this.window = Math.max(this.window, this.windowBeforeLoss)
    this.slowStart ||= this.slowStartBeforeLoss
    this.windowBeforeLoss = undefined
  }

  /** The retransmission timer fired: back to one packet (BEP 29), growing again by slow start. */
  onTimeout(): void {
    this.windowBeforeLoss = undefined
    this.ssthresh = Math.max(2 * this.mss, this.window / 2)
    this.window = this.mss
    this.slowStart = true
  }
}
