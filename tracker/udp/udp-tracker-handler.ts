import { decodeBep15Request, encodeBep15Response } from '../../protocol/bep15/bep15-codec.js'
import { checkConnectionId, issueConnectionId } from '../../protocol/bep15/connection-id.js'
import type { Clock } from '../../protocol/clock.js'
import type { UdpAddress } from '../../protocol/datagram-socket.js'
import { DecodeError, TrackerError } from '../../protocol/errors.js'
import { ipFamily } from '../../protocol/ip-address.js'
import { classifyTrackerDatagram } from '../../protocol/udp-framing.js'
import { normaliseIp } from '../http/client-address.js'
import type { RequestLimiter } from '../request-limiter.js'
import type { TrackerStats } from '../stats/tracker-stats.js'
import type { SwarmStore } from '../store/swarm-store.js'

export interface UdpTrackerHandlerOptions {
  intervalSeconds: number
  /** @default 50 */
  defaultNumwant?: number
  /** @default 200 */
  maxNumwant?: number
}

export interface UdpTrackerHandlerDeps {
  store: SwarmStore
  clock: Clock
  stats: TrackerStats
  secret: Uint8Array
  /** Per-address limit on announces and scrapes, shared with HTTP. */
  limiter?: RequestLimiter
  /** Rendezvous datagrams that share the port (docs/protocol/connect-request.md). */
  onRendezvous?: (bytes: Uint8Array, from: UdpAddress) => void
}

/**
 * BEP 15 on the tracker's UDP port: connect, announce, scrape; errors for expired or forged
 * connection ids; rendezvous datagrams handed on; anything else dropped. Never throws.
 */
export class UdpTrackerHandler {
  private readonly defaultNumwant: number
  private readonly maxNumwant: number

  constructor(
    private readonly options: UdpTrackerHandlerOptions,
    private readonly deps: UdpTrackerHandlerDeps,
  ) {
    this.defaultNumwant = options.defaultNumwant ?? 50
    this.maxNumwant = options.maxNumwant ?? 200
  }

  /** Handles one datagram; returns the reply to send back to `from`, if any. */
  handle(bytes: Uint8Array, from: UdpAddress): Uint8Array | undefined {
    const kind = classifyTrackerDatagram(bytes)
    if (kind === 'rendezvous') {
      this.deps.onRendezvous?.(bytes, from)
      return undefined
    }
    if (kind !== 'bep15-request') return undefined
    let req: ReturnType<typeof decodeBep15Request>
    try {
      req = decodeBep15Request(bytes)
    } catch (err) {
      // Answer malformed requests that carry a transaction id; the error is never larger than the request.
      if (err instanceof DecodeError && bytes.length >= 16) {
        return this.error(
          new DataView(bytes.buffer, bytes.byteOffset).getUint32(12),
          err.message.slice(0, bytes.length - 8),
        )
      }
      return undefined
    }
    const now = this.deps.clock.now()
    if (req.action === 'connect') {
      const connectionId = issueConnectionId(this.deps.secret, from.address, from.port, now)
      return encodeBep15Response({ action: 'connect', transactionId: req.transactionId, connectionId })
    }
    if (!checkConnectionId(this.deps.secret, req.connectionId, from.address, from.port, now)) {
      return this.error(req.transactionId, 'connection id expired')
    }
    // After the connection id check: only addresses that proved they receive our answers are counted.
    if (this.deps.limiter && !this.deps.limiter.admit(normaliseIp(from.address), now)) {
      return this.error(req.transactionId, 'rate limited: slow down')
    }
    if (req.action === 'scrape') {
      this.deps.stats.recordScrape()
      return encodeBep15Response({
        action: 'scrape',
        transactionId: req.transactionId,
        files: req.infoHashes.map((h) => {
          const c = this.deps.store.scrape(h)
          return { seeders: c.complete, completed: c.downloaded, leechers: c.incomplete }
        }),
      })
    }
    if (req.port === 0) return this.error(req.transactionId, 'invalid port')
    // The announcer is the datagram's source; the request's IP field is not trusted.
    const ip = normaliseIp(from.address)
    const family = ipFamily(ip)
    const wanted = req.numWant < 0 ? this.defaultNumwant : req.numWant
    const left = req.left > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(req.left)
    let res: ReturnType<SwarmStore['announce']>
    try {
      res = this.deps.store.announce({
        infoHash: req.infoHash,
        peerId: req.peerId,
        ip,
        family,
        port: req.port,
        left,
        event: req.event,
        numwant: req.event === 'stopped' ? 0 : Math.min(wanted, this.maxNumwant),
        now,
        key: req.key,
      })
    } catch (err) {
      // A refusal (a peer id held by another client's key) is the client's answer, as over HTTP.
      if (err instanceof TrackerError) return this.error(req.transactionId, err.message)
      throw err
    }
    this.deps.stats.recordAnnounce()
    return encodeBep15Response({
      action: 'announce',
      transactionId: req.transactionId,
      interval: this.options.intervalSeconds,
      leechers: res.incomplete,
      seeders: res.complete,
      // BEP 15: the peer list's family follows the transport the request came over.
      peers: family === 'IPv6' ? res.peers.compact6 : res.peers.compact4,
    })
  }

  private error(transactionId: number, message: string): Uint8Array {
    return encodeBep15Response({ action: 'error', transactionId, message })
  }
}
