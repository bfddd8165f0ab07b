import type { Clock } from '../../protocol/clock.js'

/** Outcome of one relayed connect-request, as the peers later report it. */
export type PunchOutcome = 'attempt' | 'success' | 'failure'

/** Seconds kept for the "last minute" rates. */
const RATE_WINDOW_S = 60
/** Minutes kept for the history charts. */
const HISTORY_MINUTES = 60

export interface MinuteSample {
  /** Minutes since the tracker started. */
  minute: number
  announces: number
  scrapes: number
  /** Peers at the end of that minute (or now, for the current one). */
  peers: number
}

/**
 * Counters the tracker's routes feed and the stats endpoints read. Rates are kept per second over
 * the last minute and per minute over the last hour, on the injected clock, so tests drive them
 * without waiting. Recording is O(1) and allocation-free: it sits on the announce hot path.
 */
export class TrackerStats {
  readonly startedAt: number
  announces = 0
  scrapes = 0
  errors = 0
  punches: Record<PunchOutcome, number> = { attempt: 0, success: 0, failure: 0 }
  private readonly secAnnounces = new Uint32Array(RATE_WINDOW_S)
  private readonly secScrapes = new Uint32Array(RATE_WINDOW_S)
  private readonly minAnnounces = new Uint32Array(HISTORY_MINUTES)
  private readonly minScrapes = new Uint32Array(HISTORY_MINUTES)
  private readonly minPeers = new Float64Array(HISTORY_MINUTES)
  /** Whether the minute's peer count was read during that minute (then a roll keeps it). */
  private readonly minSampled = new Uint8Array(HISTORY_MINUTES)
  private curSec: number
  private curMin: number

  constructor(readonly deps: { clock: Clock; peerCount?: () => number }) {
    this.startedAt = deps.clock.now()
    this.curSec = 0
    this.curMin = 0
  }

  recordAnnounce(): void {
    this.roll()
    this.announces++
    this.secAnnounces[this.curSec % RATE_WINDOW_S]!++
    this.minAnnounces[this.curMin % HISTORY_MINUTES]!++
  }

  recordScrape(): void {
    this.roll()
    this.scrapes++
    this.secScrapes[this.curSec % RATE_WINDOW_S]!++
    this.minScrapes[this.curMin % HISTORY_MINUTES]!++
  }

  recordError(): void {
    this.errors++
  }

  recordPunch(outcome: PunchOutcome): void {
    this.punches[outcome]++
  }

  /** Seconds since start. */
  uptimeSeconds(): number {
    return (this.deps.clock.now() - this.startedAt) / 1000
  }

  /** Announces and scrapes per second, averaged over the last minute (or the uptime, if shorter). */
  rates(): { announcesPerSecond: number; scrapesPerSecond: number } {
    this.roll()
    const span = Math.max(1, Math.min(RATE_WINDOW_S, this.uptimeSeconds()))
    const sum = (a: Uint32Array) => a.reduce((n, v) => n + v, 0)
    return {
      announcesPerSecond: sum(this.secAnnounces) / span,
      scrapesPerSecond: sum(this.secScrapes) / span,
    }
  }

  /** Per-minute samples over the last hour, oldest first. */
  history(): MinuteSample[] {
    this.roll()
    this.minPeers[this.curMin % HISTORY_MINUTES] = this.deps.peerCount?.() ?? 0
    this.minSampled[this.curMin % HISTORY_MINUTES] = 1
    const out: MinuteSample[] = []
    for (let m = Math.max(0, this.curMin - HISTORY_MINUTES + 1); m <= this.curMin; m++) {
      const i = m % HISTORY_MINUTES
      out.push({
        minute: m,
        announces: this.minAnnounces[i]!,
        scrapes: this.minScrapes[i]!,
        peers: this.minPeers[i]!,
      })
    }
    return out
  }

  /** Moves the ring buffers forward to now, zeroing the buckets that were skipped. */
  private roll(): void {
    const elapsed = this.deps.clock.now() - this.startedAt
    const sec = Math.floor(elapsed / 1000)
    if (sec !== this.curSec) {
      for (let s = this.curSec + 1; s <= sec && s <= this.curSec + RATE_WINDOW_S; s++) {
        this.secAnnounces[s % RATE_WINDOW_S] = 0
        this.secScrapes[s % RATE_WINDOW_S] = 0
      }
      this.curSec = sec
    }
    const min = Math.floor(sec / 60)
    if (min !== this.curMin) {
      // The minute that ended keeps the last count read during it; unread minutes get today's count.
      const peers = this.deps.peerCount?.() ?? 0
      if (!this.minSampled[this.curMin % HISTORY_MINUTES])
        this.minPeers[this.curMin % HISTORY_MINUTES] = peers
      for (let m = this.curMin + 1; m <= min && m <= this.curMin + HISTORY_MINUTES; m++) {
        this.minAnnounces[m % HISTORY_MINUTES] = 0
        this.minScrapes[m % HISTORY_MINUTES] = 0
        this.minPeers[m % HISTORY_MINUTES] = peers
        this.minSampled[m % HISTORY_MINUTES] = 0
      }
      this.curMin = min
    }
  }
}
