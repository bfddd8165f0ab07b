import bencode from 'bencode'
import { bytesToIp } from '../ip-address.js'

/** What an announce answers (BEP 3, BEP 23, BEP 7). */
export interface AnnounceAnswer {
  interval: number
  minInterval: number
  complete: number
  incomplete: number
  /** 6 bytes per IPv4 peer. */
  compact4: Uint8Array
  /** 18 bytes per IPv6 peer. */
  compact6: Uint8Array
  /** With the dictionary model: the peers' ids, aligned with compact4 then compact6. */
  peerIds?: Uint8Array[]
  trackerId?: Uint8Array
  warning?: string
  /** Extension keys (already-encodable values), merged in sorted order. */
  extra?: Record<string, unknown>
}

const ascii = (s: string) => Buffer.from(s, 'latin1')
const intField = (key: string, n: number) => ascii(`${key.length}:${key}i${Math.trunc(n)}e`)
const bytesField = (key: string, b: Uint8Array) => [ascii(`${key.length}:${key}${b.length}:`), b]

/**
 * Bencodes a compact announce response by hand, keys in sorted order: it is the tracker's hot path,
 * and this avoids building an object tree per announce.
 */
export function encodeCompactAnnounce(a: AnnounceAnswer): Uint8Array {
  const parts: Uint8Array[] = [
    ascii('d'),
    intField('complete', a.complete),
    intField('incomplete', a.incomplete),
  ]
  parts.push(intField('interval', a.interval), intField('min interval', a.minInterval))
  parts.push(...bytesField('peers', a.compact4))
  if (a.compact6.length) parts.push(...bytesField('peers6', a.compact6))
  const tail: Record<string, unknown> = { ...a.extra }
  if (a.trackerId) tail['tracker id'] = a.trackerId
  if (a.warning) tail['warning message'] = a.warning
  const keys = Object.keys(tail).sort()
  for (const k of keys) {
    // Every extra key sorts after "peers6" ("punchswarm", "tracker id", "warning message").
    parts.push(ascii(`${Buffer.byteLength(k)}:${k}`), bencode.encode(tail[k]))
  }
  parts.push(ascii('e'))
  return Buffer.concat(parts)
}

/** The BEP 3 dictionary model: a list of {ip, port, peer id?}. */
export function encodeDictAnnounce(a: AnnounceAnswer, includePeerIds: boolean): Uint8Array {
  const peers: Record<string, unknown>[] = []
  let k = 0
  const add = (buf: Uint8Array, addrLen: number) => {
    for (let i = 0; i + addrLen + 2 <= buf.length; i += addrLen + 2, k++) {
      const peer: Record<string, unknown> = {
        ip: bytesToIp(buf.subarray(i, i + addrLen)),
        port: (buf[i + addrLen]! << 8) | buf[i + addrLen + 1]!,
      }
      if (includePeerIds && a.peerIds?.[k]) peer['peer id'] = a.peerIds[k]
      peers.push(peer)
    }
  }
  add(a.compact4, 4)
  add(a.compact6, 16)
  const dict: Record<string, unknown> = {
    complete: a.complete,
    incomplete: a.incomplete,
    interval: a.interval,
    'min interval': a.minInterval,
    peers,
    ...a.extra,
  }
  if (a.trackerId) dict['tracker id'] = a.trackerId
  if (a.warning) dict['warning message'] = a.warning
  return bencode.encode(dict)
}

/** A bencoded failure (BEP 3): the only key a client must read. */
export function encodeFailure(reason: string): Uint8Array {
  return bencode.encode({ 'failure reason': reason })
}

/**
 * A BEP 48 scrape response: `files` keyed by the raw 20-byte info hashes. Written by hand because the
 * keys are raw bytes (an object key would be encoded as UTF-8) and must be sorted bytewise.
 */
export function encodeScrape(
  files: { infoHash: Uint8Array; complete: number; incomplete: number; downloaded: number }[],
): Uint8Array {
  const sorted = [...files].sort((a, b) => Buffer.compare(a.infoHash, b.infoHash))
  const parts: Uint8Array[] = [ascii('d5:filesd')]
  let last: Uint8Array | undefined
  for (const f of sorted) {
    if (last && Buffer.compare(last, f.infoHash) === 0) continue
    last = f.infoHash
    parts.push(ascii(`${f.infoHash.length}:`), f.infoHash)
    parts.push(
      ascii(`d8:completei${f.complete}e10:downloadedi${f.downloaded}e10:incompletei${f.incomplete}ee`),
    )
  }
  parts.push(ascii('ee'))
  return Buffer.concat(parts)
}
