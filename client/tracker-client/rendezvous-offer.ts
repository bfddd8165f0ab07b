import { type BencodeValue, isBencodeDict } from '../../protocol/bencode-codec.js'
import type { UdpAddress } from '../../protocol/datagram-socket.js'
import { bytesToIp } from '../../protocol/ip-address.js'

/** The `punchswarm` key of an announce answer (docs/protocol/connect-request.md, Announce extension). */
export interface RendezvousOffer {
  /** Registration token for this peer, address and swarm. */
  token: Uint8Array
  /** The tracker's rendezvous UDP port. */
  udpPort: number
  /** Its second UDP port, for NAT classification. */
  altPort?: number
  /** Registered peers of the swarm that cannot be dialled directly. */
  firewalled: { peerId: Uint8Array; endpoint: UdpAddress; natClass: number }[]
}

function endpointOf(b: Uint8Array): UdpAddress | undefined {
  if (b.length !== 6 && b.length !== 18) return undefined
  const port = (b[b.length - 2]! << 8) | b[b.length - 1]!
  return port > 0 ? { address: bytesToIp(b.subarray(0, b.length - 2)), port } : undefined
}

/** Reads the offer, or undefined when the tracker sent none (or a malformed one). */
export function parseRendezvousOffer(v: BencodeValue | undefined): RendezvousOffer | undefined {
  if (!v || !isBencodeDict(v) || !(v.token instanceof Uint8Array) || typeof v['udp port'] !== 'number')
    return undefined
  const firewalled: RendezvousOffer['firewalled'] = []
  for (const f of Array.isArray(v.firewalled) ? v.firewalled : []) {
    if (!isBencodeDict(f) || !(f['peer id'] instanceof Uint8Array) || !(f.endpoint instanceof Uint8Array))
      continue
    const endpoint = endpointOf(f.endpoint)
    if (endpoint)
      firewalled.push({ peerId: f['peer id'], endpoint, natClass: typeof f.nat === 'number' ? f.nat : 0 })
  }
  return {
    token: v.token,
    udpPort: v['udp port'],
    altPort: typeof v['alt port'] === 'number' ? v['alt port'] : undefined,
    firewalled,
  }
}
