import pino from 'pino'
import type { Clock } from '../../protocol/clock.js'
import { percentEncodeBytes } from '../../protocol/tracker/query-bytes.js'
import { buildTracker } from '../../tracker/build-tracker.js'
import { TrackerStats } from '../../tracker/stats/tracker-stats.js'
import { MemorySwarmStore } from '../../tracker/store/memory-swarm-store.js'
import type { TrackerOptions } from '../../tracker/tracker-options.js'
import { xorshiftRandom } from './xorshift-random.js'

/** A clock tests move by hand. */
export function manualClock(start = 1_000_000): Clock & { advance(ms: number): void } {
  let now = start
  return {
    now: () => now,
    advance: (ms) => {
      now += ms
    },
    setTimer: () => ({}),
    clearTimer: () => {},
    timeoutSignal: () => new AbortController().signal,
  }
}

/** A tracker app with a real memory store, a manual clock and a silent logger. */
export function trackerFixture(options: TrackerOptions = {}) {
  const clock = manualClock()
  const random = xorshiftRandom(42)
  const store = new MemorySwarmStore({ random })
  const stats = new TrackerStats({ clock, peerCount: () => store.size().peers })
  const app = buildTracker(options, { store, clock, random, stats, logger: pino({ level: 'silent' }) })
  return { app, clock, store, stats }
}

export interface AnnounceParams {
  infoHash: Uint8Array
  peerId: Uint8Array
  port?: number
  left?: number
  event?: string
  numwant?: number
  compact?: 0 | 1
  noPeerId?: boolean
  ip?: string
}

/** The announce URL a BitTorrent client would send. */
export function announceUrl(p: AnnounceParams): string {
  let url = `/announce?info_hash=${percentEncodeBytes(p.infoHash)}&peer_id=${percentEncodeBytes(p.peerId)}`
  url += `&port=${p.port ?? 6881}&uploaded=0&downloaded=0&left=${p.left ?? 100}`
  if (p.compact !== undefined) url += `&compact=${p.compact}`
  if (p.event) url += `&event=${p.event}`
  if (p.numwant !== undefined) url += `&numwant=${p.numwant}`
  if (p.noPeerId) url += '&no_peer_id=1'
  if (p.ip) url += `&ip=${p.ip}`
  return url
}
