import type { Clock } from '../../protocol/clock.js'

/** Outcome of one relayed connect-request, as the peers later report it. */
export type PunchOutcome = 'attempt' | 'success' | 'failure'

/**
 * Counters the tracker's routes feed and the stats endpoints read. Rates are kept over a sliding
 * window of the injected clock, so tests drive them without waiting.
 */
export class TrackerStats {
  readonly startedAt: number
  announces = 0
  scrapes = 0
  punches: Record<PunchOutcome, number> = { attempt: 0, success: 0, failure: 0 }

  constructor(readonly deps: { clock: Clock }) {
    this.startedAt = deps.clock.now()
  }

  recordAnnounce(): void {
    this.announces++
  }

  recordScrape(): void {
    this.scrapes++
  }

  recordPunch(outcome: PunchOutcome): void {
    this.punches[outcome]++
  }
}
