import { randomBytes } from 'node:crypto'
import pino, { type Logger } from 'pino'
import { realClock, realRandom } from '../client/real-clock.js'
import type { Clock, Random } from '../protocol/clock.js'
import { buildTracker } from './build-tracker.js'
import { RendezvousService } from './rendezvous/rendezvous-service.js'
import { RequestLimiter } from './request-limiter.js'
import { TrackerStats } from './stats/tracker-stats.js'
import { MemorySwarmStore } from './store/memory-swarm-store.js'
import type { SwarmStore } from './store/swarm-store.js'
import { peerTimeoutMs, resolveTrackerOptions, type TrackerOptions } from './tracker-options.js'
import { bindUdpTracker } from './udp/bind-udp-tracker.js'

/** How often expiry runs, and how many peers one run may visit: small slices never stall announces. */
const EXPIRY_TICK_MS = 1_000
const EXPIRY_BUDGET = 20_000

export interface StartTrackerOptions extends TrackerOptions {
  /** @default '127.0.0.1' */
  host?: string
  /** HTTP port; 0 picks a free one. @default 0 */
  port?: number
  /** UDP port (BEP 15 and rendezvous); defaults to the HTTP port's number. */
  udpPort?: number
  /** Second UDP port for NAT classification; 0 picks one. @default 0 */
  altPort?: number
  /** Secret for connection ids and registration tokens. @default random per start */
  secret?: Uint8Array
}

export interface StartTrackerDeps {
  clock?: Clock
  random?: Random
  logger?: Logger
  store?: SwarmStore
}

export interface RunningTracker {
  host: string
  httpPort: number
  udpPort: number
  altPort?: number
  store: SwarmStore
  stats: TrackerStats
  /** `http://host:port/announce` */
  announceUrl: string
  /** `udp://host:port` */
  udpUrl: string
  close(): Promise<void>
}

/** Starts the whole tracker: HTTP (announce, scrape, stats), UDP (BEP 15, rendezvous) and expiry. */
export async function startTracker(
  options: StartTrackerOptions = {},
  deps: StartTrackerDeps = {},
): Promise<RunningTracker> {
  const host = options.host ?? '127.0.0.1'
  const clock = deps.clock ?? realClock
  const random = deps.random ?? realRandom
  const logger = deps.logger ?? pino({ level: 'silent' })
  const resolved = resolveTrackerOptions(options)
  const store =
    deps.store ??
    new MemorySwarmStore(
      { random },
      { maxSwarms: resolved.maxSwarms, maxPeersPerSwarm: resolved.maxPeersPerSwarm },
    )
  const stats = new TrackerStats({ clock, peerCount: () => store.size().peers })
  const secret = options.secret ?? randomBytes(32)
  // One limiter for HTTP and UDP: an address gets one share, whichever transport it uses.
  const requestLimiter = new RequestLimiter(resolved.maxRequestsPerSecond, resolved.requestBurst)
  const rendezvous = new RendezvousService(
    {
      secret,
      host,
      altPort: options.altPort ?? 0,
      connectRatePerSecond: resolved.connectRatePerSecond,
    },
    { clock, random, store, stats, logger: logger.child({ component: 'rendezvous' }) },
  )

  // HTTP first with port 0 resolved, so the UDP port can default to the same number.
  let boundUdpPort: number | undefined
  const app = buildTracker(
    { ...options, udpPort: () => boundUdpPort },
    { store, clock, random, stats, logger, rendezvous, requestLimiter },
  )
  await app.listen({ host, port: options.port ?? 0 })
  const httpPort = (app.server.address() as { port: number }).port
  const udpPort = options.udpPort ?? httpPort
  let udp: Awaited<ReturnType<typeof bindUdpTracker>>
  try {
    udp = await bindUdpTracker(
      { host, port: udpPort, onRendezvous: (b, from) => rendezvous.handle(b, from) },
      {
        store,
        clock,
        stats,
        logger,
        secret,
        intervalSeconds: resolved.intervalSeconds,
        limiter: requestLimiter,
      },
    )
    await rendezvous.start((bytes, to) => udp.send(bytes, to))
  } catch (err) {
    await app.close()
    throw err
  }
  boundUdpPort = udp.port

  const expiry = setInterval(() => {
    try {
      store.expire(clock.now(), peerTimeoutMs(resolved), EXPIRY_BUDGET)
    } catch (err) {
      logger.error({ err }, 'expiry failed')
    }
  }, EXPIRY_TICK_MS)
  expiry.unref()

  const shownHost = host.includes(':') ? `[${host}]` : host
  return {
    host,
    httpPort,
    udpPort: udp.port,
    altPort: rendezvous.altPort(),
    store,
    stats,
    announceUrl: `http://${shownHost}:${httpPort}/announce`,
    udpUrl: `udp://${shownHost}:${udp.port}`,
    async close() {
      clearInterval(expiry)
      await Promise.allSettled([app.close(), udp.close(), rendezvous.stop()])
    },
  }
}
