import { DecodeError } from '../errors.js'
import { BEP15_PROTOCOL_ID } from '../udp-framing.js'

/**
 * BEP 15 UDP tracker messages, both directions: https://www.bittorrent.org/beps/bep_0015.html
 * Connection ids are 8 opaque bytes (bigint here).
 */

export const ACTION_CONNECT = 0
export const ACTION_ANNOUNCE = 1
export const ACTION_SCRAPE = 2
export const ACTION_ERROR = 3

/** BEP 15 event codes. */
const EVENTS = ['none', 'completed', 'started', 'stopped'] as const
export type Bep15Event = (typeof EVENTS)[number]

/** Most info hashes in one scrape request (what fits in a ~1500-byte datagram). */
export const MAX_SCRAPE_HASHES = 74
const ANNOUNCE_BYTES = 98

export type Bep15Request =
  | { action: 'connect'; transactionId: number }
  | {
      action: 'announce'
      connectionId: bigint
      transactionId: number
      infoHash: Uint8Array
      peerId: Uint8Array
      downloaded: bigint
      left: bigint
      uploaded: bigint
      event: Bep15Event
      /** 0 = the sender's address. */
      ip: number
      key: number
      /** -1 = default. */
      numWant: number
      port: number
    }
  | { action: 'scrape'; connectionId: bigint; transactionId: number; infoHashes: Uint8Array[] }

export type Bep15Response =
  | { action: 'connect'; transactionId: number; connectionId: bigint }
  | {
      action: 'announce'
      transactionId: number
      interval: number
      leechers: number
      seeders: number
      /** Compact peers: 6 bytes each over IPv4, 18 over IPv6 (the transport decides). */
      peers: Uint8Array
    }
  | {
      action: 'scrape'
      transactionId: number
      files: { seeders: number; completed: number; leechers: number }[]
    }
  | { action: 'error'; transactionId: number; message: string }

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength)
}

export function encodeBep15Request(r: Bep15Request): Uint8Array {
  switch (r.action) {
    case 'connect': {
      const b = new Uint8Array(16)
      const v = view(b)
      v.setBigUint64(0, BEP15_PROTOCOL_ID)
      v.setUint32(8, ACTION_CONNECT)
      v.setUint32(12, r.transactionId)
      return b
    }
    case 'announce': {
      const b = new Uint8Array(ANNOUNCE_BYTES)
      const v = view(b)
      v.setBigUint64(0, r.connectionId)
      v.setUint32(8, ACTION_ANNOUNCE)
      v.setUint32(12, r.transactionId)
      b.set(r.infoHash, 16)
      b.set(r.peerId, 36)
      v.setBigUint64(56, r.downloaded)
      v.setBigUint64(64, r.left)
      v.setBigUint64(72, r.uploaded)
      v.setUint32(80, EVENTS.indexOf(r.event))
      v.setUint32(84, r.ip)
      v.setUint32(88, r.key)
      v.setInt32(92, r.numWant)
      v.setUint16(96, r.port)
      return b
    }
    case 'scrape': {
      const b = new Uint8Array(16 + 20 * r.infoHashes.length)
      const v = view(b)
      v.setBigUint64(0, r.connectionId)
      v.setUint32(8, ACTION_SCRAPE)
      v.setUint32(12, r.transactionId)
      r.infoHashes.forEach((h, i) => {
        b.set(h, 16 + 20 * i)
      })
      return b
    }
  }
}

/** Decodes a request arriving at the tracker; throws DecodeError. */
export function decodeBep15Request(b: Uint8Array): Bep15Request {
  if (b.length < 16) throw new DecodeError('DECODE_TRUNCATED', 'BEP 15 request shorter than 16 bytes')
  const v = view(b)
  const action = v.getUint32(8)
  const transactionId = v.getUint32(12)
  switch (action) {
    case ACTION_CONNECT:
      if (v.getBigUint64(0) !== BEP15_PROTOCOL_ID)
        throw new DecodeError('DECODE_BAD_MAGIC', 'bad protocol id')
      return { action: 'connect', transactionId }
    case ACTION_ANNOUNCE: {
      // Bytes past 98 are BEP 41 options; they carry nothing this tracker needs.
      if (b.length < ANNOUNCE_BYTES)
        throw new DecodeError('DECODE_TRUNCATED', 'announce shorter than 98 bytes')
      const event = EVENTS[v.getUint32(80)]
      if (!event) throw new DecodeError('DECODE_BAD_VALUE', 'bad event')
      return {
        action: 'announce',
        connectionId: v.getBigUint64(0),
        transactionId,
        infoHash: b.slice(16, 36),
        peerId: b.slice(36, 56),
        downloaded: v.getBigUint64(56),
        left: v.getBigUint64(64),
        uploaded: v.getBigUint64(72),
        event,
        ip: v.getUint32(84),
        key: v.getUint32(88),
        numWant: v.getInt32(92),
        port: v.getUint16(96),
      }
    }
    case ACTION_SCRAPE: {
      const n = Math.floor((b.length - 16) / 20)
      if (n < 1) throw new DecodeError('DECODE_TRUNCATED', 'scrape without info hashes')
      if (n > MAX_SCRAPE_HASHES) throw new DecodeError('DECODE_OVERSIZED', 'too many info hashes in scrape')
      const infoHashes: Uint8Array[] = []
      for (let i = 0; i < n; i++) infoHashes.push(b.slice(16 + 20 * i, 36 + 20 * i))
      return { action: 'scrape', connectionId: v.getBigUint64(0), transactionId, infoHashes }
    }
    default:
      throw new DecodeError('DECODE_BAD_VALUE', `unknown action ${action}`)
  }
}

export function encodeBep15Response(r: Bep15Response): Uint8Array {
  switch (r.action) {
    case 'connect': {
      const b = new Uint8Array(16)
      const v = view(b)
      v.setUint32(0, ACTION_CONNECT)
      v.setUint32(4, r.transactionId)
      v.setBigUint64(8, r.connectionId)
      return b
    }
    case 'announce': {
      const b = new Uint8Array(20 + r.peers.length)
      const v = view(b)
      v.setUint32(0, ACTION_ANNOUNCE)
      v.setUint32(4, r.transactionId)
      v.setUint32(8, r.interval)
      v.setUint32(12, r.leechers)
      v.setUint32(16, r.seeders)
      b.set(r.peers, 20)
      return b
    }
    case 'scrape': {
      const b = new Uint8Array(8 + 12 * r.files.length)
      const v = view(b)
      v.setUint32(0, ACTION_SCRAPE)
      v.setUint32(4, r.transactionId)
      r.files.forEach((f, i) => {
        v.setUint32(8 + 12 * i, f.seeders)
        v.setUint32(12 + 12 * i, f.completed)
        v.setUint32(16 + 12 * i, f.leechers)
      })
      return b
    }
    case 'error': {
      const msg = Buffer.from(r.message.slice(0, 200))
      const b = new Uint8Array(8 + msg.length)
      const v = view(b)
      v.setUint32(0, ACTION_ERROR)
      v.setUint32(4, r.transactionId)
      b.set(msg, 8)
      return b
    }
  }
}

/** Decodes a response arriving at a client; `peerBytes` is 6 over IPv4, 18 over IPv6. */
export function decodeBep15Response(b: Uint8Array, peerBytes: 6 | 18 = 6): Bep15Response {
  if (b.length < 8) throw new DecodeError('DECODE_TRUNCATED', 'BEP 15 response shorter than 8 bytes')
  const v = view(b)
  const action = v.getUint32(0)
  const transactionId = v.getUint32(4)
  switch (action) {
    case ACTION_CONNECT:
      if (b.length < 16) throw new DecodeError('DECODE_TRUNCATED', 'connect response shorter than 16 bytes')
      return { action: 'connect', transactionId, connectionId: v.getBigUint64(8) }
    case ACTION_ANNOUNCE: {
      if (b.length < 20) throw new DecodeError('DECODE_TRUNCATED', 'announce response shorter than 20 bytes')
      const peersLen = b.length - 20 - ((b.length - 20) % peerBytes)
      return {
        action: 'announce',
        transactionId,
        interval: v.getUint32(8),
        leechers: v.getUint32(12),
        seeders: v.getUint32(16),
        peers: b.slice(20, 20 + peersLen),
      }
    }
    case ACTION_SCRAPE: {
      const files = []
      for (let o = 8; o + 12 <= b.length; o += 12) {
        files.push({ seeders: v.getUint32(o), completed: v.getUint32(o + 4), leechers: v.getUint32(o + 8) })
      }
      return { action: 'scrape', transactionId, files }
    }
    case ACTION_ERROR:
      return { action: 'error', transactionId, message: Buffer.from(b.subarray(8)).toString('utf8') }
    default:
      throw new DecodeError('DECODE_BAD_VALUE', `unknown action ${action}`)
  }
}
