import { percentEncodeBytes } from '../../protocol/tracker/query-bytes.js'

/** The request mix: SWARMS swarms, PEERS peers spread evenly, compact answers, numwant 50. */
export const SWARMS = 1000
export const PEERS = 200_000
export const NUMWANT = 50

/** Deterministic 20-byte info hash of swarm `s`. */
export function infoHashOf(s: number): Uint8Array {
  const b = new Uint8Array(20)
  const v = new DataView(b.buffer)
  v.setUint32(0, 0x50535743) // "PSWC"
  v.setUint32(4, s)
  for (let i = 8; i < 20; i++) b[i] = (s * 31 + i * 17) & 0xff
  return b
}

/** Deterministic 20-byte peer id of peer `p` (Azureus style prefix). */
export function peerIdOf(p: number): Uint8Array {
  const b = new Uint8Array(20)
  b.set(Buffer.from('-PB0001-'))
  new DataView(b.buffer).setUint32(8, p)
  for (let i = 12; i < 20; i++) b[i] = (p * 13 + i) & 0xff
  return b
}

/**
 * Peers come from SOURCE_IPS loopback addresses: peer p from 127.0.0.(1 + p % SOURCE_IPS), on port
 * 1024 + floor(p / SOURCE_IPS). Every peer then has its own address and port, so trackers that key
 * peers by ip:port (opentracker) store all of them, like trackers that key by peer id.
 */
export const SOURCE_IPS = 4
export const sourceIpOf = (p: number) => `127.0.0.${1 + (p % SOURCE_IPS)}`
export const swarmOf = (p: number) => p % SWARMS
export const portOf = (p: number) => 1024 + Math.floor(p / SOURCE_IPS)

/** The HTTP request line of peer `p`'s announce (in swarm `swarm`, by default the mix's). */
export function announcePath(p: number, event?: 'started', swarm = swarmOf(p)): string {
  const ih = percentEncodeBytes(infoHashOf(swarm))
  const id = percentEncodeBytes(peerIdOf(p))
  const ev = event ? `&event=${event}` : ''
  return `/announce?info_hash=${ih}&peer_id=${id}&port=${portOf(p)}&uploaded=0&downloaded=0&left=${p % 4 === 0 ? 0 : 1000}&compact=1&numwant=${NUMWANT}${ev}`
}
