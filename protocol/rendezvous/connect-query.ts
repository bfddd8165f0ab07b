import bencode from 'bencode'
import { decodeBencode } from '../bencode-codec.js'
import type { UdpAddress } from '../datagram-socket.js'
import { DecodeError, TrackerError } from '../errors.js'
import { bytesToIp, ipFamily, ipToBytes } from '../ip-address.js'
import { queryBytes, splitTrackerQuery } from '../tracker/announce-query.js'
import { percentEncodeBytes } from '../tracker/query-bytes.js'
import {
  NAT_CLASS_CODES,
  RENDEZVOUS_ERROR_CODES,
  type RendezvousErrorName,
  type WireNatClass,
} from './rendezvous-messages.js'

/**
 * `GET /connect` (docs/protocol/connect-request.md, Connect over HTTP): the query a requester sends
 * and the bencoded answer it gets. The request is padded (`pad=000…`) to CONNECT_URL_MIN_BYTES, so
 * the pushes the tracker sends for it never add up to more bytes than it received.
 */

/** A connect URL (path and query) is padded to at least this many characters. */
export const CONNECT_URL_MIN_BYTES = 400

export interface ConnectQuery {
  infoHash: Uint8Array
  peerId: Uint8Array
  token: Uint8Array
  targetPeerId: Uint8Array
}

/** What a successful `/connect` answers: where the target is, its class, when to start, the nonce. */
export interface HttpConnectAnswer {
  target: UdpAddress
  targetLan?: UdpAddress
  targetNatClass: WireNatClass
  punchDelayMs: number
  nonce: Uint8Array
}

/** Decodes a `/connect` query string (without `?`); throws TrackerError with the failure reason. */
export function decodeConnectQuery(query: string): ConnectQuery {
  const q = splitTrackerQuery(query, 16)
  return {
    infoHash: queryBytes(q, 'info_hash'),
    peerId: queryBytes(q, 'peer_id'),
    token: queryBytes(q, 'token', 1, 64),
    targetPeerId: queryBytes(q, 'target'),
  }
}

/** The `/connect` URL for an announce URL (`…/announce` becomes `…/connect`, like BEP 48's scrape). */
export function connectUrl(announceUrl: string, q: ConnectQuery): string {
  const u = new URL(announceUrl)
  u.pathname = u.pathname.replace(/announce$/, 'connect')
  u.search = ''
  let url =
    `${u.toString()}?info_hash=${percentEncodeBytes(q.infoHash)}&peer_id=${percentEncodeBytes(q.peerId)}` +
    `&token=${percentEncodeBytes(q.token)}&target=${percentEncodeBytes(q.targetPeerId)}`
  const pathAndQuery = url.length - u.origin.length
  if (pathAndQuery + 5 < CONNECT_URL_MIN_BYTES)
    url += `&pad=${'0'.repeat(CONNECT_URL_MIN_BYTES - pathAndQuery - 5)}`
  return url
}

/** Compact endpoint: 4 or 16 address bytes then the port, as BEP 23 / BEP 7. */
export function compactEndpoint(address: string, port: number): Uint8Array {
  const ip = ipToBytes(address)
  const out = new Uint8Array(ip.length + 2)
  out.set(ip)
  out[ip.length] = port >> 8
  out[ip.length + 1] = port & 0xff
  return out
}

function fromCompact(b: unknown): UdpAddress | undefined {
  if (!(b instanceof Uint8Array) || (b.length !== 6 && b.length !== 18)) return undefined
  const address = bytesToIp(b.subarray(0, b.length - 2))
  const port = (b[b.length - 2]! << 8) | b[b.length - 1]!
  return port > 0 ? { address, port, family: ipFamily(address) } : undefined
}

/** The bencoded answer to a relayed `/connect`. */
export function encodeConnectAnswer(a: HttpConnectAnswer): Uint8Array {
  const dict: Record<string, unknown> = {
    endpoint: compactEndpoint(a.target.address, a.target.port),
    nat: NAT_CLASS_CODES[a.targetNatClass],
    'punch delay': a.punchDelayMs,
    nonce: a.nonce,
  }
  if (a.targetLan) dict['lan endpoint'] = compactEndpoint(a.targetLan.address, a.targetLan.port)
  return bencode.encode(dict)
}

/** The bencoded answer to a refused `/connect`: the reason, and the rendezvous error name as `failure code`. */
export function encodeConnectRefusal(code: RendezvousErrorName, reason: string): Uint8Array {
  return bencode.encode({ 'failure reason': reason, 'failure code': code })
}

/**
 * Decodes a `/connect` answer. A refusal throws TrackerError `TRACKER_FAILURE_REASON` (or
 * `TRACKER_RATE_LIMITED`) whose `cause` is the rendezvous error name; garbage throws DecodeError.
 */
export function decodeConnectAnswer(body: Uint8Array): HttpConnectAnswer {
  let d: Record<string, unknown>
  try {
    // The strict codec: the `bencode` package loops forever on a negative string length.
    d = decodeBencode(body) as Record<string, unknown>
  } catch (cause) {
    throw new DecodeError('DECODE_BAD_BENCODE', 'connect answer is not bencoded', { cause })
  }
  if (typeof d !== 'object' || d === null)
    throw new DecodeError('DECODE_BAD_VALUE', 'connect answer is not a dictionary')
  const reason = d['failure reason']
  if (reason instanceof Uint8Array) {
    const code =
      d['failure code'] instanceof Uint8Array ? Buffer.from(d['failure code']).toString() : undefined
    const known = code !== undefined && code in RENDEZVOUS_ERROR_CODES ? code : undefined
    throw new TrackerError(
      known === 'rateLimited' ? 'TRACKER_RATE_LIMITED' : 'TRACKER_FAILURE_REASON',
      Buffer.from(reason).toString(),
      { cause: known },
    )
  }
  const target = fromCompact(d.endpoint)
  const nat = Object.entries(NAT_CLASS_CODES).find(([, v]) => v === d.nat)?.[0] as WireNatClass | undefined
  const nonce = d.nonce
  const delay = d['punch delay']
  if (
    !target ||
    !nat ||
    !(nonce instanceof Uint8Array) ||
    nonce.length !== 8 ||
    typeof delay !== 'number' ||
    delay < 0
  ) {
    throw new DecodeError('DECODE_BAD_VALUE', 'connect answer lacks endpoint, nat, punch delay or nonce')
  }
  const lan = fromCompact(d['lan endpoint'])
  // A copy: the body it came in is not kept alive by the answer.
  return {
    target,
    ...(lan ? { targetLan: lan } : {}),
    targetNatClass: nat,
    punchDelayMs: delay,
    nonce: Uint8Array.from(nonce),
  }
}
