import type { Logger } from 'pino'
import type { Clock, Random } from '../protocol/clock.js'
import type { RendezvousService } from './rendezvous/rendezvous-service.js'
import type { TrackerStats } from './stats/tracker-stats.js'
import type { SwarmStore } from './store/swarm-store.js'

export interface TrackerOptions {
  /** Seconds between announces that the tracker asks for. @default 1800 */
  intervalSeconds?: number
  /** Seconds a client must at least wait between announces. @default intervalSeconds / 2 */
  minIntervalSeconds?: number
  /** Peers returned when the client does not say. @default 50 */
  defaultNumwant?: number
  /** Most peers returned, whatever the client asks. @default 200 */
  maxNumwant?: number
  /** Honour X-Forwarded-For and the `ip` parameter (only behind a proxy you run). @default false */
  trustProxy?: boolean
  /** Most info hashes in one scrape. @default 64 */
  maxScrapeHashes?: number
  /** Longest request URL accepted, in bytes. @default 4096 */
  maxUrlBytes?: number
  /** A warning message sent with every announce. @default none */
  warning?: string
  /**
   * The UDP port named in the `punchswarm` announce extension key, or a function giving it once bound.
   * @default none: no extension
   */
  udpPort?: number | (() => number | undefined)
}

export interface TrackerDeps {
  store: SwarmStore
  clock: Clock
  random: Random
  stats: TrackerStats
  logger: Logger
  /** Rendezvous relay, when the tracker relays connect-requests. */
  rendezvous?: RendezvousService
}

export type ResolvedTrackerOptions = Required<Omit<TrackerOptions, 'warning' | 'udpPort'>> &
  Pick<TrackerOptions, 'warning' | 'udpPort'>

export function resolveTrackerOptions(o: TrackerOptions = {}): ResolvedTrackerOptions {
  const intervalSeconds = o.intervalSeconds ?? 1800
  return {
    intervalSeconds,
    minIntervalSeconds: o.minIntervalSeconds ?? Math.max(1, Math.floor(intervalSeconds / 2)),
    defaultNumwant: o.defaultNumwant ?? 50,
    maxNumwant: o.maxNumwant ?? 200,
    trustProxy: o.trustProxy ?? false,
    maxScrapeHashes: o.maxScrapeHashes ?? 64,
    maxUrlBytes: o.maxUrlBytes ?? 4096,
    warning: o.warning,
    udpPort: o.udpPort,
  }
}

/** A peer that missed about two announces is dropped (docs/tracker.md). */
export function peerTimeoutMs(o: ResolvedTrackerOptions): number {
  return (o.intervalSeconds * 2 + 60) * 1000
}
