import { DelayHistory } from './delay-history.js'

/** BEP 29's CCONTROL_TARGET: the queuing delay LEDBAT aims to add, microseconds. */
export const LEDBAT_TARGET_US = 100_000
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
 * - Above the target the window shrinks in proportion to its size (at most by half per RTT) instead
 *   of by a fixed amount, so two flows on one bottleneck converge to equal shares.
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
  /** No second halving until this time: one window reduction per RTT. */
  private lossHoldUntil = Number.NEGATIVE_INFINITY

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
  onAck(bytesAcked: number, delaySampleUs: number, nowMs: number, cwndLimited: boolean): void {
    if (bytesAcked <= 0) return
    const delay = this.history.add(delaySampleUs, nowMs)
    this.lastDelayUs = delay
    const offTarget = (this.target - delay) / this.target
    if (this.slowStart) {
      if (delay > this.target * 0.75 || this.window >= this.ssthresh) {
        this.slowStart = false
      } else if (cwndLimited) {
        this.window = Math.min(this.maxWindow, this.ssthresh, this.window + bytesAcked)
        return
      } else {
        return
      }
    }
    let delta: number
    if (offTarget >= 0) {
      if (!cwndLimited) return
      delta = (this.gain * offTarget * bytesAcked) / this.window
    } else {
      // LEDBAT++ multiplicative decrease: -W * (delay/target - 1) per RTT, at most -W/2.
      delta = Math.max(-bytesAcked * (delay / this.target - 1), -bytesAcked / 2)
    }
    this.window = Math.min(this.maxWindow, Math.max(this.mss, this.window + delta))
  }

  /** A packet was lost (fast retransmit): halve, once per RTT. */
  onLoss(nowMs: number, rttMs: number): void {
    this.slowStart = false
    if (nowMs < this.lossHoldUntil) return
    this.lossHoldUntil = nowMs + rttMs
    this.window = Math.max(this.mss, this.window / 2)
  }

  /** The retransmission timer fired: back to one packet (BEP 29), growing again by slow start. */
  onTimeout(): void {
    this.ssthresh = Math.max(2 * this.mss, this.window / 2)
    this.window = this.mss
    this.slowStart = true
  }
}
