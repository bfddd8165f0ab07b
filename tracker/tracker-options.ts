import type { Logger } from 'pino'
import type { Clock, Random } from '../protocol/clock.js'
import type { RendezvousService } from './rendezvous/rendezvous-service.js'
import type { RequestLimiter } from './request-limiter.js'
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
  /**
   * Announces and scrapes per second from one source address (an IPv6 /64 counts as one address),
   * over HTTP and UDP together; beyond it the tracker answers with a failure reason (a BEP 15 error
   * over UDP). 0: no limit. @default 20
   */
  maxRequestsPerSecond?: number
  /** Requests one address may send in a burst above its rate. @default 10 × maxRequestsPerSecond */
  requestBurst?: number
  /**
   * Most swarms kept; a new swarm beyond it evicts the least recently announced one.
   * @default 1_000_000
   */
  maxSwarms?: number
  /** Most peers kept per swarm; a new peer beyond it evicts a long-silent one. @default 100_000 */
  maxPeersPerSwarm?: number
  /** Connect-requests per second from one requester address, and aimed at one target peer. @default 5 */
  connectRatePerSecond?: number
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
  /** Per-address limit on announces and scrapes, shared with the UDP port. @default one from the options */
  requestLimiter?: RequestLimiter
  /** Rendezvous relay, when the tracker relays connect-requests. */
  rendezvous?: RendezvousService
}

export type ResolvedTrackerOptions = Required<Omit<TrackerOptions, 'warning' | 'udpPort'>> &
  Pick<TrackerOptions, 'warning' | 'udpPort'>

export function resolveTrackerOptions(o: TrackerOptions = {}): ResolvedTrackerOptions {
  const intervalSeconds = o.intervalSeconds ?? 1800
  const maxRequestsPerSecond = o.maxRequestsPerSecond ?? 20
  return {
    intervalSeconds,
    minIntervalSeconds: o.minIntervalSeconds ?? Math.max(1, Math.floor(intervalSeconds / 2)),
    defaultNumwant: o.defaultNumwant ?? 50,
    maxNumwant: o.maxNumwant ?? 200,
    trustProxy: o.trustProxy ?? false,
    maxScrapeHashes: o.maxScrapeHashes ?? 64,
    maxUrlBytes: o.maxUrlBytes ?? 4096,
    maxRequestsPerSecond,
    requestBurst: o.requestBurst ?? maxRequestsPerSecond * 10,
    maxSwarms: o.maxSwarms ?? 1_000_000,
    maxPeersPerSwarm: o.maxPeersPerSwarm ?? 100_000,
    connectRatePerSecond: o.connectRatePerSecond ?? 5,
    warning: o.warning,
    udpPort: o.udpPort,
  }
}

/** A peer that missed about two announces is dropped (docs/tracker.md). */
export function peerTimeoutMs(o: ResolvedTrackerOptions): number {
  return (o.intervalSeconds * 2 + 60) * 1000
}
