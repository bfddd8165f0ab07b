import fc from 'fast-check'
import { type BencodeInput, decodeBencode, encodeBencode } from '../../protocol/bencode-codec.js'
import {
  type Bep15Request,
  type Bep15Response,
  decodeBep15Request,
  decodeBep15Response,
  encodeBep15Request,
  encodeBep15Response,
} from '../../protocol/bep15/bep15-codec.js'
import { DecodeError } from '../../protocol/errors.js'
import { decodeRendezvous, encodeRendezvous } from '../../protocol/rendezvous/rendezvous-codec.js'
import { decodePacket, encodePacket, UTP_TYPES, type UtpPacket } from '../../protocol/utp/utp-packet.js'
import { PeerMessageFramer } from '../../protocol/wire/peer-message-framer.js'
import { rendezvousMessageArb } from '../../test/helpers/rendezvous-arbitrary.js'
import type { FuzzTarget } from './fuzz-target.js'
import { fuzzBytes } from './mutate.js'

const u32 = fc.nat({ max: 0xffffffff })
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
const id20 = fc.uint8Array({ minLength: 20, maxLength: 20 })

/** A decoder of one datagram or file: bytes in, DecodeError for anything malformed. */
function datagramTarget(
  name: string,
  reads: string,
  valid: fc.Arbitrary<Uint8Array>,
  maxBytes: number,
  decode: (b: Uint8Array) => unknown,
): FuzzTarget<Uint8Array> {
  return {
    name,
    reads,
    arbitrary: fuzzBytes(valid, maxBytes),
    decode,
    allowed: [DecodeError],
    size: (b) => b.length,
  }
}

/** Bencode values as trackers and peers send them: nested dicts and lists of strings and integers. */
export const bencodeInputArb: fc.Arbitrary<BencodeInput> = fc.letrec<{ value: BencodeInput }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
    fc.uint8Array({ maxLength: 40 }),
    fc.string({ maxLength: 20 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 12 }), tie('value'), { maxKeys: 5 }),
  ),
})).value

/** Deep nesting, to reach the depth limit. */
const deepBencode = fc
  .tuple(fc.integer({ min: 1, max: 200 }), fc.constantFrom('l', 'd1:a'))
  .map(([depth, open]) => new Uint8Array(Buffer.from(`${open.repeat(depth)}i1e${'e'.repeat(depth)}`)))

export const bencodeTarget = datagramTarget(
  'bencode',
  'decodeBencode (client/metainfo/bencode-codec.ts): tracker answers, .torrent files, resume data',
  fc.oneof(bencodeInputArb.map(encodeBencode), deepBencode),
  4096,
  decodeBencode,
)

const bep15RequestArb: fc.Arbitrary<Bep15Request> = fc.oneof(
  fc.record({ action: fc.constant('connect' as const), transactionId: u32 }),
  fc.record({
    action: fc.constant('announce' as const),
    connectionId: u64,
    transactionId: u32,
    infoHash: id20,
    peerId: id20,
    downloaded: u64,
    left: u64,
    uploaded: u64,
    event: fc.constantFrom('none' as const, 'completed' as const, 'started' as const, 'stopped' as const),
    ip: u32,
    key: u32,
    numWant: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    port: fc.integer({ min: 0, max: 0xffff }),
  }),
  fc.record({
    action: fc.constant('scrape' as const),
    connectionId: u64,
    transactionId: u32,
    infoHashes: fc.array(id20, { minLength: 1, maxLength: 80 }),
  }),
)

export const bep15RequestTarget = datagramTarget(
  'bep15-request',
  'decodeBep15Request (protocol/bep15/bep15-codec.ts): datagrams at the UDP tracker',
  bep15RequestArb.map(encodeBep15Request),
  2048,
  decodeBep15Request,
)

const bep15ResponseArb: fc.Arbitrary<Bep15Response> = fc.oneof(
  fc.record({ action: fc.constant('connect' as const), transactionId: u32, connectionId: u64 }),
  fc.record({
    action: fc.constant('announce' as const),
    transactionId: u32,
    interval: u32,
    leechers: u32,
    seeders: u32,
    peers: fc.uint8Array({ maxLength: 18 * 20 }),
  }),
  fc.record({
    action: fc.constant('scrape' as const),
    transactionId: u32,
    files: fc.array(fc.record({ seeders: u32, completed: u32, leechers: u32 }), { maxLength: 80 }),
  }),
  fc.record({
    action: fc.constant('error' as const),
    transactionId: u32,
    message: fc.string({ maxLength: 80 }),
  }),
)

export const bep15ResponseTarget: FuzzTarget<{ bytes: Uint8Array; peerBytes: 6 | 18 }> = {
  name: 'bep15-response',
  reads:
    'decodeBep15Response (protocol/bep15/bep15-codec.ts): UDP tracker answers at the client, IPv4 and IPv6',
  arbitrary: fc.record({
    bytes: fuzzBytes(bep15ResponseArb.map(encodeBep15Response), 2048),
    peerBytes: fc.constantFrom(6 as const, 18 as const),
  }),
  decode: ({ bytes, peerBytes }) => decodeBep15Response(bytes, peerBytes),
  allowed: [DecodeError],
  size: ({ bytes }) => bytes.length,
}

export const rendezvousTarget = datagramTarget(
  'rendezvous',
  'decodeRendezvous (protocol/rendezvous/rendezvous-codec.ts): rendezvous datagrams, both sides',
  rendezvousMessageArb.map(encodeRendezvous),
  1400,
  decodeRendezvous,
)

const utpPacketArb: fc.Arbitrary<UtpPacket> = fc
  .record({
    type: fc.constantFrom(...UTP_TYPES),
    connectionId: fc.integer({ min: 0, max: 0xffff }),
    timestamp: u32,
    timestampDiff: u32,
    windowSize: u32,
    seq: fc.integer({ min: 0, max: 0xffff }),
    ack: fc.integer({ min: 0, max: 0xffff }),
    sack: fc.option(
      fc
        .integer({ min: 1, max: 8 })
        .chain((words) => fc.uint8Array({ minLength: 4 * words, maxLength: 4 * words })),
      { nil: undefined },
    ),
    payload: fc.uint8Array({ maxLength: 1400 }),
  })
  .map(({ sack, ...p }) => (sack ? { ...p, sack } : p))

export const utpPacketTarget = datagramTarget(
  'utp-packet',
  'decodePacket (protocol/utp/utp-packet.ts): every uTP datagram',
  utpPacketArb.map(encodePacket),
  1500,
  decodePacket,
)

/** A peer's inbound stream: the handshake, then messages of every kind, split into chunks. */
export const peerStreamArb: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.oneof(
      fc.constantFrom(0, 1, 2, 3, 0x0e, 0x0f).map((id) => frame(id)),
      fc.tuple(fc.constantFrom(4, 0x0d, 0x11), u32).map(([id, n]) => frame(id, u32be(n))),
      fc
        .tuple(fc.constantFrom(6, 8, 0x10), u32, u32, u32)
        .map(([id, a, b, c]) => frame(id, u32be(a), u32be(b), u32be(c))),
      fc.uint8Array({ maxLength: 64 }).map((bits) => frame(5, bits)),
      fc
        .tuple(u32, u32, fc.uint8Array({ maxLength: 256 }))
        .map(([i, o, b]) => frame(7, u32be(i), u32be(o), b)),
      fc.integer({ min: 0, max: 0xffff }).map((p) => frame(9, Uint8Array.of(p >> 8, p & 0xff))),
      fc
        .tuple(fc.nat({ max: 255 }), bencodeInputArb.map(encodeBencode))
        .map(([ext, body]) => frame(20, Uint8Array.of(ext), body)),
      fc.constant(new Uint8Array(4)),
    ),
    { maxLength: 12 },
  )
  .map((messages) => Buffer.concat([handshakeBytes(new Uint8Array(20), new Uint8Array(20)), ...messages]))
  .map((b) => new Uint8Array(b.buffer, b.byteOffset, b.length))

export const peerFramingTarget: FuzzTarget<{ stream: Uint8Array; chunk: number }> = {
  name: 'peer-framing',
  reads: 'PeerMessageFramer (protocol/wire/peer-message-framer.ts): TCP and uTP streams from peers',
  arbitrary: fc.record({ stream: fuzzBytes(peerStreamArb, 4096), chunk: fc.integer({ min: 1, max: 600 }) }),
  decode: ({ stream, chunk }) => {
    const framer = new PeerMessageFramer()
    for (let o = 0; o < stream.length; o += chunk) framer.push(stream.subarray(o, o + chunk))
    return framer.messages
  },
  allowed: [DecodeError],
  size: ({ stream }) => stream.length,
}

/** The BEP 3 handshake with the extension-protocol bit (BEP 10) set. */
export function handshakeBytes(infoHash: Uint8Array, peerId: Uint8Array): Uint8Array {
  const reserved = new Uint8Array(8)
  reserved[5] = 0x10
  return Buffer.concat([Uint8Array.of(19), Buffer.from('BitTorrent protocol'), reserved, infoHash, peerId])
}

/** A length-prefixed peer message. */
export function frame(id: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat([Uint8Array.of(id), ...parts])
  return Buffer.concat([u32be(body.length), body])
}

function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n >>> 0)
  return b
}
