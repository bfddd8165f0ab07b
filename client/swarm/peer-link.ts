import type Wire from 'bittorrent-protocol'
import type { RateMeter } from './rate-meter.js'

export type PeerTransport = 'tcp' | 'utp'

/** One connected peer of a torrent: its wire and what the session tracks about it. */
export interface PeerLink {
  /** `ip:port` as we reached it or it reached us. */
  id: string
  address: string
  port: number
  transport: PeerTransport
  direction: 'in' | 'out'
  wire: Wire
  down: RateMeter
  up: RateMeter
  /** The availability this peer adds to the picker (its bitfield plus HAVEs), removed when it leaves. */
  counted: Uint8Array | undefined
  /** Requests allowed in flight (BEP 10 `reqq` caps it). */
  maxRequests: number
  closed: boolean
  /** When the session took it (its clock): a link that ends soon after counts as a failed dial. */
  openedAt: number
}
