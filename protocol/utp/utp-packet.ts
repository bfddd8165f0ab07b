import { DecodeError } from '../errors.js'

/**
 * The uTP packet codec (BEP 29, https://www.bittorrent.org/beps/bep_0029.html).
 *
 *   0       4       8               16              24              32
 *   +-------+-------+---------------+---------------+---------------+
 *   | type  | ver   | extension     | connection_id                 |
 *   | timestamp_microseconds                                        |
 *   | timestamp_difference_microseconds                             |
 *   | wnd_size                                                      |
 *   | seq_nr                        | ack_nr                        |
 *   +---------------------------------------------------------------+
 *
 * followed by an extension chain (next-extension byte, length byte, data) and the payload.
 */

export const UTP_VERSION = 1
export const UTP_HEADER_BYTES = 20

export const UTP_TYPES = ['data', 'fin', 'state', 'reset', 'syn'] as const
export type UtpPacketType = (typeof UTP_TYPES)[number]
export const ST_DATA = 0
export const ST_FIN = 1
export const ST_STATE = 2
export const ST_RESET = 3
export const ST_SYN = 4

export const EXT_NONE = 0
export const EXT_SELECTIVE_ACK = 1

/** Largest selective-ack bitmask accepted: 1024 packets past ack_nr+1 (libtorrent sends at most 32 bytes). */
export const MAX_SACK_BYTES = 128

export interface UtpPacket {
  type: UtpPacketType
  connectionId: number
  /** Sender's clock, microseconds, 32-bit wrapping. */
  timestamp: number
  /** Sender's last measured one-way delay of our packets (its receive time minus our timestamp). */
  timestampDiff: number
  /** Receive window the sender advertises, bytes. */
  windowSize: number
  seq: number
  ack: number
  /** Selective-ack bitmask: bit i of byte j set means packet ack+2+8j+i arrived. */
  sack?: Uint8Array
  payload: Uint8Array
}

export function packetTypeCode(type: UtpPacketType): number {
  return UTP_TYPES.indexOf(type)
}

/** Writes the 20-byte header into `out` at offset 0 (used to refresh a retransmitted packet in place). */
export function writeHeader(
  out: Uint8Array,
  typeCode: number,
  firstExtension: number,
  connectionId: number,
  timestamp: number,
  timestampDiff: number,
  windowSize: number,
  seq: number,
  ack: number,
): void {
  out[0] = (typeCode << 4) | UTP_VERSION
  out[1] = firstExtension
  out[2] = connectionId >>> 8
  out[3] = connectionId & 0xff
  writeU32(out, 4, timestamp)
  writeU32(out, 8, timestampDiff)
  writeU32(out, 12, windowSize)
  out[16] = seq >>> 8
  out[17] = seq & 0xff
  out[18] = ack >>> 8
  out[19] = ack & 0xff
}

export function encodePacket(p: UtpPacket): Uint8Array {
  const sack = p.sack
  if (sack && (sack.length < 4 || sack.length % 4 !== 0 || sack.length > MAX_SACK_BYTES)) {
    throw new DecodeError('DECODE_BAD_VALUE', `selective ack of ${sack.length} bytes is not a multiple of 4`)
  }
  const extBytes = sack ? 2 + sack.length : 0
  const out = new Uint8Array(UTP_HEADER_BYTES + extBytes + p.payload.length)
  writeHeader(
    out,
    packetTypeCode(p.type),
    sack ? EXT_SELECTIVE_ACK : EXT_NONE,
    p.connectionId,
    p.timestamp,
    p.timestampDiff,
    p.windowSize,
    p.seq,
    p.ack,
  )
  let o = UTP_HEADER_BYTES
  if (sack) {
    out[o++] = EXT_NONE
    out[o++] = sack.length
    out.set(sack, o)
    o += sack.length
  }
  out.set(p.payload, o)
  return out
}

/**
 * Decodes one datagram. Throws DecodeError for anything BEP 29 does not allow: wrong version, unknown
 * type, a truncated header or extension chain, an empty selective ack.
 * Unknown extensions are skipped, as BEP 29 asks. The payload is a view into `b`, not a copy.
 */
export function decodePacket(b: Uint8Array): UtpPacket {
  if (b.length < UTP_HEADER_BYTES)
    throw new DecodeError('DECODE_TRUNCATED', `uTP packet of ${b.length} bytes`)
  const version = b[0]! & 0x0f
  const typeCode = b[0]! >> 4
  if (version !== UTP_VERSION) throw new DecodeError('DECODE_BAD_VALUE', `uTP version ${version}`)
  const type = UTP_TYPES[typeCode]
  if (type === undefined) throw new DecodeError('DECODE_BAD_VALUE', `uTP packet type ${typeCode}`)
  let ext = b[1]!
  let o = UTP_HEADER_BYTES
  let sack: Uint8Array | undefined
  // Each extension names the type of the next one; a chain longer than the packet is truncated.
  while (ext !== EXT_NONE) {
    if (o + 2 > b.length) throw new DecodeError('DECODE_TRUNCATED', 'uTP extension header truncated')
    const next = b[o]!
    const len = b[o + 1]!
    o += 2
    if (o + len > b.length) throw new DecodeError('DECODE_TRUNCATED', `uTP extension ${ext} truncated`)
    if (ext === EXT_SELECTIVE_ACK) {
      // BEP 29 asks for a multiple of 4 bytes, but libtorrent sends whatever byte count covers its
      // out-of-order packets (seen: 2, 3, 5, 6), so any non-empty length is read.
      if (len === 0) throw new DecodeError('DECODE_BAD_VALUE', 'empty selective ack')
      sack = b.subarray(o, o + len)
    }
    o += len
    ext = next
  }
  const packet: UtpPacket = {
    type,
    connectionId: (b[2]! << 8) | b[3]!,
    timestamp: readU32(b, 4),
    timestampDiff: readU32(b, 8),
    windowSize: readU32(b, 12),
    seq: (b[16]! << 8) | b[17]!,
    ack: (b[18]! << 8) | b[19]!,
    payload: b.subarray(o),
  }
  if (sack) packet.sack = sack
  return packet
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24
  b[o + 1] = (v >>> 16) & 0xff
  b[o + 2] = (v >>> 8) & 0xff
  b[o + 3] = v & 0xff
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
}
