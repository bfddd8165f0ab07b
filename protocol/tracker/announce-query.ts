import { TrackerError } from '../errors.js'
import { percentDecodeBytes, splitQuery } from './query-bytes.js'

export type AnnounceEventName = 'started' | 'completed' | 'stopped' | 'none'

/** A decoded announce (BEP 3, BEP 23, BEP 7). */
export interface AnnounceQuery {
  infoHash: Uint8Array
  peerId: Uint8Array
  port: number
  uploaded: number
  downloaded: number
  left: number
  event: AnnounceEventName
  /** Undefined when the client did not ask. */
  numwant?: number
  compact: boolean
  noPeerId: boolean
  /** The `ip` parameter, honoured only behind a trusted proxy. */
  ip?: string
  key?: Uint8Array
  trackerId?: Uint8Array
  /** The client speaks the rendezvous protocol (`punchswarm=1`) and wants the extension key. */
  rendezvous: boolean
}

const bad = (reason: string) => new TrackerError('TRACKER_BAD_REQUEST', reason)

function one(q: Map<string, string[]>, name: string): string | undefined {
  const v = q.get(name)
  return v?.[0]
}

/** A percent-encoded byte parameter of `min`..`max` bytes (20 for info hashes and peer ids). */
export function queryBytes(q: Map<string, string[]>, name: string, min = 20, max = min): Uint8Array {
  const raw = one(q, name)
  if (raw === undefined) throw bad(`missing ${name}`)
  let b: Uint8Array
  try {
    b = percentDecodeBytes(raw)
  } catch {
    throw bad(`invalid ${name} encoding`)
  }
  if (b.length < min || b.length > max) {
    throw bad(`invalid ${name}: must be ${min === max ? min : `${min}-${max}`} bytes, got ${b.length}`)
  }
  return b
}

/** Splits a tracker query, refusing more than `maxPairs` parameters. */
export function splitTrackerQuery(query: string, maxPairs: number): Map<string, string[]> {
  try {
    return splitQuery(query, maxPairs)
  } catch {
    throw bad('too many query parameters')
  }
}

function count(q: Map<string, string[]>, name: string, required: boolean): number {
  const raw = one(q, name)
  if (raw === undefined || raw === '') {
    if (required) throw bad(`missing ${name}`)
    return 0
  }
  // Digits only: no signs, exponents or hex; at most 2^53 so it stays exact.
  if (!/^\d{1,16}$/.test(raw)) throw bad(`invalid ${name}`)
  const n = Number(raw)
  if (!Number.isSafeInteger(n)) throw bad(`invalid ${name}`)
  return n
}

/** Decodes an announce query string (without `?`); throws TrackerError with the failure reason. */
export function decodeAnnounceQuery(query: string): AnnounceQuery {
  const q = splitTrackerQuery(query, 64)
  const infoHash = queryBytes(q, 'info_hash')
  const peerId = queryBytes(q, 'peer_id')
  const port = count(q, 'port', true)
  if (port < 1 || port > 65535) throw bad('invalid port')
  const eventRaw = one(q, 'event') ?? ''
  let event: AnnounceEventName
  switch (eventRaw) {
    case 'started':
    case 'completed':
    case 'stopped':
      event = eventRaw
      break
    case '':
    case 'empty':
    case 'paused':
      event = 'none'
      break
    default:
      throw bad('invalid event')
  }
  const numwantRaw = one(q, 'numwant')
  const optBytes = (name: string) => {
    const raw = one(q, name)
    if (raw === undefined) return undefined
    try {
      const b = percentDecodeBytes(raw)
      if (b.length > 64) throw bad(`invalid ${name}`)
      return b
    } catch {
      throw bad(`invalid ${name}`)
    }
  }
  const ipRaw = one(q, 'ip')
  let ip: string | undefined
  try {
    ip = ipRaw === undefined ? undefined : Buffer.from(percentDecodeBytes(ipRaw)).toString('latin1')
  } catch {
    throw bad('invalid ip encoding')
  }
  return {
    infoHash,
    peerId,
    port,
    uploaded: count(q, 'uploaded', false),
    downloaded: count(q, 'downloaded', false),
    left: count(q, 'left', false),
    event,
    numwant: numwantRaw === undefined || numwantRaw === '' ? undefined : count(q, 'numwant', false),
    compact: one(q, 'compact') !== '0',
    noPeerId: one(q, 'no_peer_id') === '1',
    ip,
    key: optBytes('key'),
    trackerId: optBytes('trackerid'),
    rendezvous: one(q, 'punchswarm') === '1',
  }
}

/** Decodes a scrape query: zero or more 20-byte `info_hash` values (BEP 48). */
export function decodeScrapeQuery(query: string, maxHashes: number): Uint8Array[] {
  let q: Map<string, string[]>
  try {
    q = splitQuery(query, maxHashes + 8)
  } catch {
    throw bad(`too many info_hash values (at most ${maxHashes})`)
  }
  const raw = q.get('info_hash') ?? []
  if (raw.length > maxHashes) throw bad(`too many info_hash values (at most ${maxHashes})`)
  return raw.map((v) => {
    let b: Uint8Array
    try {
      b = percentDecodeBytes(v)
    } catch {
      throw bad('invalid info_hash encoding')
    }
    if (b.length !== 20) throw bad(`invalid info_hash: must be 20 bytes, got ${b.length}`)
    return b
  })
}
