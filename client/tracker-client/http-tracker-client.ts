import { bencodeText, decodeBencode, isBencodeDict } from '../../protocol/bencode-codec.js'
import { TrackerError, throwIfAborted } from '../../protocol/errors.js'
import { bytesToIp } from '../../protocol/ip-address.js'
import { percentEncodeBytes } from '../../protocol/tracker/query-bytes.js'
import { parseRendezvousOffer, type RendezvousOffer } from './rendezvous-offer.js'

/** Largest tracker answer read; a tracker with 200 peers answers in a few kB. */
export const MAX_TRACKER_RESPONSE_BYTES = 1024 * 1024

/** What an announce sends (BEP 3 tracker GET parameters). */
export interface AnnounceRequest {
  infoHash: Uint8Array
  peerId: Uint8Array
  port: number
  uploaded: number
  downloaded: number
  left: number
  event?: 'started' | 'completed' | 'stopped'
  /** @default tracker's choice */
  numwant?: number
  /** Echoed back as `trackerid` when the tracker gave one. */
  trackerId?: string
  /** Random per-session key, lets the tracker recognise us across IP changes. */
  key?: string
  /** Ask for the rendezvous extension key (`punchswarm=1`). */
  rendezvous?: boolean
}

/** A tracker's answer. Times are seconds, as trackers send them. */
export interface AnnounceResponse {
  interval: number
  minInterval?: number
  complete?: number
  incomplete?: number
  trackerId?: string
  warning?: string
  peers: { address: string; port: number }[]
  /** The tracker's rendezvous offer, when asked for and given. */
  rendezvous?: RendezvousOffer
}

/** The full announce URL for `base` (which may already carry a query, e.g. a passkey). */
export function announceUrl(base: string, req: AnnounceRequest): string {
  const q = [
    `info_hash=${percentEncodeBytes(req.infoHash)}`,
    `peer_id=${percentEncodeBytes(req.peerId)}`,
    `port=${req.port}`,
    `uploaded=${req.uploaded}`,
    `downloaded=${req.downloaded}`,
    `left=${req.left}`,
    'compact=1',
  ]
  if (req.event) q.push(`event=${req.event}`)
  if (req.numwant !== undefined) q.push(`numwant=${req.numwant}`)
  if (req.key) q.push(`key=${encodeURIComponent(req.key)}`)
  if (req.trackerId) q.push(`trackerid=${encodeURIComponent(req.trackerId)}`)
  if (req.rendezvous) q.push('punchswarm=1')
  return `${base}${base.includes('?') ? '&' : '?'}${q.join('&')}`
}

/**
 * One HTTP(S) announce. Throws TrackerError: 'TRACKER_FAILURE_REASON' (the tracker's text),
 * 'TRACKER_UNREACHABLE' (network, non-200) or 'TRACKER_BAD_RESPONSE' (not a valid answer).
 */
export async function httpAnnounce(
  url: string,
  req: AnnounceRequest,
  opts: { signal?: AbortSignal } = {},
): Promise<AnnounceResponse> {
  let body: Uint8Array
  try {
    const res = await fetch(announceUrl(url, req), { signal: opts.signal, redirect: 'follow' })
    if (res.status !== 200) {
      await res.body?.cancel()
      throw new TrackerError('TRACKER_UNREACHABLE', `${url} answered HTTP ${res.status}`)
    }
    body = new Uint8Array(await res.arrayBuffer())
  } catch (err) {
    throwIfAborted(opts.signal)
    if (err instanceof TrackerError) throw err
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message
    throw new TrackerError('TRACKER_UNREACHABLE', `${url} unreachable: ${cause}`, { cause: err })
  }
  if (body.length > MAX_TRACKER_RESPONSE_BYTES) {
    throw new TrackerError('TRACKER_BAD_RESPONSE', `${url} sent ${body.length} bytes`)
  }
  return parseAnnounceResponse(url, body)
}

/** Parses a bencoded tracker answer (BEP 3, BEP 23 compact peers, BEP 7 peers6). */
export function parseAnnounceResponse(url: string, body: Uint8Array): AnnounceResponse {
  let d: ReturnType<typeof decodeBencode>
  try {
    d = decodeBencode(body)
  } catch (err) {
    throw new TrackerError('TRACKER_BAD_RESPONSE', `${url} sent bad bencode: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (!isBencodeDict(d)) throw new TrackerError('TRACKER_BAD_RESPONSE', `${url} sent no dictionary`)
  const failure = bencodeText(d['failure reason'])
  if (failure !== undefined) throw new TrackerError('TRACKER_FAILURE_REASON', failure.replace(/\s+/g, ' '))
  if (typeof d.interval !== 'number' || d.interval < 0) {
    throw new TrackerError('TRACKER_BAD_RESPONSE', `${url} sent no interval`)
  }
  const peers: AnnounceResponse['peers'] = []
  if (d.peers instanceof Uint8Array) {
    for (let i = 0; i + 6 <= d.peers.length; i += 6) {
      const p = d.peers
      peers.push({
        address: `${p[i]}.${p[i + 1]}.${p[i + 2]}.${p[i + 3]}`,
        port: (p[i + 4]! << 8) | p[i + 5]!,
      })
    }
  } else if (Array.isArray(d.peers)) {
    for (const p of d.peers) {
      if (!isBencodeDict(p)) continue
      const address = bencodeText(p.ip)
      if (address && typeof p.port === 'number' && p.port > 0 && p.port < 65536)
        peers.push({ address, port: p.port })
    }
  }
  if (d.peers6 instanceof Uint8Array) peers.push(...compactPeers(d.peers6, 18))
  const out: AnnounceResponse = { interval: d.interval, peers: peers.filter((p) => p.port > 0) }
  if (typeof d['min interval'] === 'number') out.minInterval = d['min interval']
  if (typeof d.complete === 'number') out.complete = d.complete
  if (typeof d.incomplete === 'number') out.incomplete = d.incomplete
  const trackerId = bencodeText(d['tracker id'])
  if (trackerId) out.trackerId = trackerId
  const warning = bencodeText(d['warning message'])
  if (warning) out.warning = warning
  const offer = parseRendezvousOffer(d.punchswarm)
  if (offer) out.rendezvous = offer
  return out
}

/** Compact peers: 4-byte IPv4 (BEP 23) or 16-byte IPv6 (BEP 7) address, then a big-endian port. */
function compactPeers(b: Uint8Array, width: 6 | 18): { address: string; port: number }[] {
  const out: { address: string; port: number }[] = []
  for (let i = 0; i + width <= b.length; i += width) {
    out.push({
      address: bytesToIp(b.subarray(i, i + width - 2)),
      port: (b[i + width - 2]! << 8) | b[i + width - 1]!,
    })
  }
  return out
}
