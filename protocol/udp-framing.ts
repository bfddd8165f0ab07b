/**
 * How the datagrams that share one UDP port are told apart, by their first bytes.
 *
 * - uTP (BEP 29): byte 0 is `type << 4 | version`, version 1, type 0..4, so 0x01, 0x11, 0x21, 0x31, 0x41.
 * - BEP 15 tracker responses: byte 0 is the high byte of a 32-bit action (0..3), so 0x00.
 * - BEP 15 requests: connect starts with the magic 0x41727101980; announce and scrape start with a
 *   connection id that this tracker issued. Issued ids always have the top bit clear (see
 *   tracker/udp/connection-id.ts), so a request never starts with a byte >= 0x80.
 * - Rendezvous (docs/protocol/connect-request.md): starts with RENDEZVOUS_MAGIC, whose first byte
 *   0xE5 has the top bit set (not a BEP 15 request), is not 0x00 (not a BEP 15 response) and has low
 *   nibble 5 (not uTP version 1).
 * - Mainline DHT (BEP 5): a bencoded dictionary, so 'd' (0x64).
 */

export type DatagramKind = 'utp' | 'rendezvous' | 'bep15-request' | 'bep15-response' | 'dht' | 'unknown'

/** "\xE5PS1": rendezvous protocol, version 1. */
export const RENDEZVOUS_MAGIC = Uint8Array.of(0xe5, 0x50, 0x53, 0x31)

/** BEP 15 connect magic, https://www.bittorrent.org/beps/bep_0015.html */
export const BEP15_PROTOCOL_ID = 0x41727101980n

export function isRendezvous(b: Uint8Array): boolean {
  return (
    b.length >= 4 &&
    b[0] === RENDEZVOUS_MAGIC[0] &&
    b[1] === RENDEZVOUS_MAGIC[1] &&
    b[2] === RENDEZVOUS_MAGIC[2] &&
    b[3] === RENDEZVOUS_MAGIC[3]
  )
}

/** Classifies a datagram arriving at a client socket (which receives responses, not requests). */
export function classifyClientDatagram(b: Uint8Array): DatagramKind {
  if (b.length === 0) return 'unknown'
  if (isRendezvous(b)) return 'rendezvous'
  const b0 = b[0]!
  if ((b0 & 0x0f) === 1 && b0 >> 4 <= 4 && b.length >= 20) return 'utp'
  if (b0 === 0x64) return 'dht'
  if (b0 === 0x00 && b.length >= 8) return 'bep15-response'
  return 'unknown'
}

/** Classifies a datagram arriving at the tracker's UDP port. */
export function classifyTrackerDatagram(b: Uint8Array): DatagramKind {
  if (isRendezvous(b)) return 'rendezvous'
  if (b.length >= 16 && b[0]! < 0x80) return 'bep15-request'
  return 'unknown'
}
