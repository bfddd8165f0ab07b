import type { StoreTotals, SwarmStore } from '../store/swarm-store.js'
import type { MinuteSample, PunchOutcome, TrackerStats } from './tracker-stats.js'

/** Per-swarm entry of /stats.json. */
export interface SwarmStatsEntry {
  infoHash: string
  seeders: number
  leechers: number
  completed: number
  peers4: number
  peers6: number
  byNatClass: StoreTotals['byNatClass']
}

/** The body of GET /stats.json (docs/stats.md describes every field). */
export interface StatsSnapshot {
  uptimeSeconds: number
  memory: { rss: number; heapUsed: number; heapTotal: number; arrayBuffers: number }
  totals: StoreTotals
  rates: { announcesPerSecond: number; scrapesPerSecond: number }
  counters: { announces: number; scrapes: number }
  punches: Record<PunchOutcome, number>
  history: MinuteSample[]
  swarms: SwarmStatsEntry[]
}

export function statsSnapshot(stats: TrackerStats, store: SwarmStore, maxSwarms: number): StatsSnapshot {
  const mem = process.memoryUsage()
  return {
    uptimeSeconds: Math.round(stats.uptimeSeconds()),
    memory: {
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      arrayBuffers: mem.arrayBuffers,
    },
    totals: store.totals(),
    rates: stats.rates(),
    counters: { announces: stats.announces, scrapes: stats.scrapes },
    punches: { ...stats.punches },
    history: stats.history(),
    swarms: store.summaries(maxSwarms).map((s) => ({
      infoHash: Buffer.from(s.infoHash).toString('hex'),
      seeders: s.complete,
      leechers: s.incomplete,
      completed: s.downloaded,
      peers4: s.peers4,
      peers6: s.peers6,
      byNatClass: s.byNatClass,
    })),
  }
}
