import bencode from 'bencode'
import type { UdpAddress } from '../../protocol/datagram-socket.js'
import { TrackerError } from '../../protocol/errors.js'
import { bytesToIp } from '../../protocol/ip-address.js'
import { percentEncodeBytes } from '../../protocol/tracker/query-bytes.js'

export interface HttpAnnounceRequest {
  /** The tracker's announce URL. */
  url: string
  infoHash: Uint8Array
  peerId: Uint8Array
  port: number
  uploaded: number
  downloaded: number
  left: number
  event?: 'started' | 'completed' | 'stopped'
  numwant?: number
  /** Ask for the rendezvous extension key (docs/protocol/connect-request.md). */
  rendezvous?: boolean
  trackerId?: Uint8Array
}

export interface RendezvousOffer {
  token: Uint8Array
  udpPort: number
  altPort?: number
  firewalled: { peerId: Uint8Array; endpoint: UdpAddress; natClass: number }[]
}

export interface HttpAnnounceResponse {
  interval: number
  minInterval?: number
  complete: number
  incomplete: number
  peers: UdpAddress[]
  warning?: string
  trackerId?: Uint8Array
  rendezvous?: RendezvousOffer
}

/** Compact peers (BEP 23 / BEP 7): `width` is 6 for IPv4, 18 for IPv6. */
export function decodeCompactPeers(b: Uint8Array, width: 6 | 18): UdpAddress[] {
  const out: UdpAddress[] = []
  for (let i = 0; i + width <= b.length; i += width) {
    const port = (b[i + width - 2]! << 8) | b[i + width - 1]!
    if (port > 0)
      out.push({
        address: bytesToIp(b.subarray(i, i + width - 2)),
        port,
        family: width === 6 ? 'IPv4' : 'IPv6',
      })
  }
  return out
}

const text = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : undefined)

/** One HTTP announce (BEP 3): raw bytes percent-encoded, compact peers, failure reasons as TrackerError. */
export async function httpAnnounce(
  req: HttpAnnounceRequest,
  opts: { signal?: AbortSignal } = {},
): Promise<HttpAnnounceResponse> {
  const url = new URL(req.url)
  let query = `info_hash=${percentEncodeBytes(req.infoHash)}&peer_id=${percentEncodeBytes(req.peerId)}`
  query += `&port=${req.port}&uploaded=${req.uploaded}&downloaded=${req.downloaded}&left=${req.left}&compact=1`
  if (req.event) query += `&event=${req.event}`
  if (req.numwant !== undefined) query += `&numwant=${req.numwant}`
  if (req.trackerId) query += `&trackerid=${percentEncodeBytes(req.trackerId)}`
  if (req.rendezvous) query += '&punchswarm=1'
  const href = `${url.origin}${url.pathname}?${url.search ? `${url.search.slice(1)}&` : ''}${query}`
  let body: Uint8Array
  try {
    const res = await fetch(href, { signal: opts.signal ?? AbortSignal.timeout(15_000) })
    body = new Uint8Array(await res.arrayBuffer())
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason
    throw new TrackerError('TRACKER_UNREACHABLE', `cannot reach ${url.origin}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  let d: Record<string, unknown>
  try {
    d = bencode.decode(body) as Record<string, unknown>
  } catch (err) {
    throw new TrackerError('TRACKER_BAD_RESPONSE', `${url.origin} did not answer with bencode`, {
      cause: err,
    })
  }
  const failure = text(d['failure reason'])
  if (failure !== undefined) throw new TrackerError('TRACKER_FAILURE_REASON', failure)
  const peers =
    d.peers instanceof Uint8Array
      ? decodeCompactPeers(d.peers, 6)
      : Array.isArray(d.peers)
        ? (d.peers as Record<string, unknown>[]).flatMap((p) => {
            const address = text(p.ip)
            return address && typeof p.port === 'number' ? [{ address, port: p.port }] : []
          })
        : []
  if (d.peers6 instanceof Uint8Array) peers.push(...decodeCompactPeers(d.peers6, 18))
  const ext = d.punchswarm as Record<string, unknown> | undefined
  return {
    interval: typeof d.interval === 'number' ? d.interval : 1800,
    minInterval: typeof d['min interval'] === 'number' ? d['min interval'] : undefined,
    complete: typeof d.complete === 'number' ? d.complete : 0,
    incomplete: typeof d.incomplete === 'number' ? d.incomplete : 0,
    peers,
    warning: text(d['warning message']),
    trackerId: d['tracker id'] instanceof Uint8Array ? d['tracker id'] : undefined,
    rendezvous:
      ext && ext.token instanceof Uint8Array && typeof ext['udp port'] === 'number'
        ? {
            token: ext.token,
            udpPort: ext['udp port'],
            altPort: typeof ext['alt port'] === 'number' ? ext['alt port'] : undefined,
            firewalled: (Array.isArray(ext.firewalled)
              ? (ext.firewalled as Record<string, unknown>[])
              : []
            ).flatMap((f) => {
              const ep =
                f.endpoint instanceof Uint8Array
                  ? decodeCompactPeers(f.endpoint, f.endpoint.length === 18 ? 18 : 6)[0]
                  : undefined
              return ep && f['peer id'] instanceof Uint8Array
                ? [{ peerId: f['peer id'], endpoint: ep, natClass: typeof f.nat === 'number' ? f.nat : 0 }]
                : []
            }),
          }
        : undefined,
  }
}
