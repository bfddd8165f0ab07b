import { createHash } from 'node:crypto'
import Wire from 'bittorrent-protocol'
import fc from 'fast-check'
import utPex from 'ut_pex'
import { guardWire, safeUtMetadata } from '../../client/swarm/wire-guard.js'
import { encodeBencode } from '../../protocol/bencode-codec.js'
import { PunchswarmError } from '../../protocol/errors.js'
import { bencodeInputArb, frame, handshakeBytes } from './codec-targets.js'
import { type FuzzTarget, FuzzViolation } from './fuzz-target.js'
import { fuzzBytes } from './mutate.js'

/** A small valid info dict: what a seed serves over ut_metadata. */
const INFO = encodeBencode({
  name: 'fuzz.bin',
  'piece length': 16384,
  length: 20000,
  pieces: new Uint8Array(40),
})
const INFO_HASH = new Uint8Array(createHash('sha1').update(INFO).digest())
const PEER_ID = new Uint8Array(20).fill(7)
/** Our extension ids, in the order the session installs them (BEP 10: ids are the receiver's). */
const UT_METADATA_ID = 1
const UT_PEX_ID = 2

const u32 = fc.nat({ max: 0xffffffff })
const ext = (id: number, ...parts: Uint8Array[]) => frame(20, Uint8Array.of(id), ...parts)

/** ut_metadata messages (BEP 9) with piece numbers in and out of range, sizes right and wrong. */
const utMetadataMessage = (info: Uint8Array) =>
  fc.oneof(
    fc
      .integer({ min: -2, max: 3 })
      .map((piece) => ext(UT_METADATA_ID, encodeBencode({ msg_type: 0, piece }))),
    fc
      .tuple(
        fc.integer({ min: -2, max: 3 }),
        fc.constantFrom(info.length, 0, 2 ** 32),
        fc.integer({ min: 0, max: 20000 }),
      )
      .map(([piece, total, take]) =>
        ext(
          UT_METADATA_ID,
          encodeBencode({ msg_type: 1, piece, total_size: total }),
          info.subarray(16384 * Math.max(0, piece), 16384 * Math.max(0, piece) + take),
        ),
      ),
    fc
      .uint8Array({ maxLength: 300 })
      .map((junk) => ext(UT_METADATA_ID, encodeBencode({ msg_type: 1, piece: 0 }), junk)),
    fc
      .integer({ min: -1, max: 3 })
      .map((piece) => ext(UT_METADATA_ID, encodeBencode({ msg_type: 2, piece }))),
  )

/**
 * ut_pex messages (BEP 11): compact peers, flags, drops, any other keys. With `loopbackOnly` the
 * added peers are 127.0.0.1 (a live session dials them; it must not dial out of the machine).
 */
const utPexMessage = (loopbackOnly: boolean) =>
  fc
    .record(
      {
        added: loopbackOnly
          ? fc
              .array(fc.integer({ min: 1, max: 0xffff }), { maxLength: 10 })
              .map((ports) => Buffer.concat(ports.map((p) => Uint8Array.of(127, 0, 0, 1, p >> 8, p & 0xff))))
          : fc.uint8Array({ maxLength: 60 }),
        'added.f': fc.uint8Array({ maxLength: 10 }),
        added6: loopbackOnly ? fc.constant(new Uint8Array(0)) : fc.uint8Array({ maxLength: 90 }),
        dropped: fc.uint8Array({ maxLength: 30 }),
        other: bencodeInputArb,
      },
      { requiredKeys: [] },
    )
    .map((d) => ext(UT_PEX_ID, encodeBencode(d)))

const extendedHandshake = (info: Uint8Array) =>
  fc
    .record({
      metadataSize: fc.oneof(
        fc.constant(info.length),
        fc.constantFrom(0, -1, 1, 10_000_001, 2 ** 32),
        fc.nat({ max: 70_000 }),
      ),
      reqq: fc.integer({ min: -1, max: 1000 }),
      m: fc.oneof(
        fc.constant({ ut_metadata: 3, ut_pex: 4 }),
        fc.dictionary(fc.string({ maxLength: 12 }), bencodeInputArb),
      ),
    })
    .map(({ metadataSize, reqq, m }) =>
      ext(0, encodeBencode({ m, metadata_size: metadataSize, reqq, v: 'fuzz' })),
    )

/**
 * A peer's side of a connection to a torrent: the handshake, its extended handshake, then any mix
 * of messages (BEP 3, 6, 9, 10, 11), mutated like every other input.
 */
export const peerSessionArb = (
  infoHash: Uint8Array,
  info: Uint8Array,
  maxBytes: number,
  loopbackOnly = false,
) =>
  fuzzBytes(
    fc
      .tuple(
        extendedHandshake(info),
        fc.array(
          fc.oneof(
            utMetadataMessage(info),
            utPexMessage(loopbackOnly),
            fc.constantFrom(0, 1, 2, 3).map((id) => frame(id)),
            u32.map((n) => frame(4, be32(n))),
            fc.uint8Array({ maxLength: 8 }).map((bits) => frame(5, bits)),
            fc.tuple(u32, u32, u32).map(([i, o, l]) => frame(6, ...[i, o, l].map(be32))),
            fc
              .tuple(u32, u32, fc.uint8Array({ maxLength: 64 }))
              .map(([i, o, b]) => frame(7, be32(i), be32(o), b)),
            fc
              .constantFrom(0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x63)
              .map((id) => frame(id, new Uint8Array(id === 0x10 ? 12 : 4))),
          ),
          { maxLength: 10 },
        ),
      )
      .map(([hs, rest]) => Buffer.concat([handshakeBytes(infoHash, new Uint8Array(20).fill(9)), hs, ...rest]))
      .map((b) => new Uint8Array(b.buffer, b.byteOffset, b.length)),
    maxBytes,
  )

/**
 * A real bittorrent-protocol Wire with the session's extensions (ut_metadata, ut_pex) behind
 * guardWire, fed a peer's bytes in chunks. As a seed (it has the metadata) and as a magnet
 * download (it fetches the metadata). Whatever the bytes, nothing may throw out of the wire's
 * write path or reject unhandled; a wire that fails must fail with a typed error.
 */
export const peerWireTarget: FuzzTarget<{ stream: Uint8Array; chunk: number; magnet: boolean }> = {
  name: 'peer-wire',
  reads: 'bittorrent-protocol Wire + ut_metadata + ut_pex behind guardWire (client/swarm/wire-guard.ts)',
  arbitrary: fc.record({
    stream: peerSessionArb(INFO_HASH, INFO, 8192),
    chunk: fc.integer({ min: 1, max: 4096 }),
    magnet: fc.boolean(),
  }),
  decode: async ({ stream, chunk, magnet }) => {
    const errors: unknown[] = []
    const rejections: unknown[] = []
    const onRejection = (reason: unknown) => rejections.push(reason)
    process.on('unhandledRejection', onRejection)
    const wire = guardWire(new Wire())
    try {
      wire.use(safeUtMetadata(magnet ? undefined : INFO))
      wire.use(utPex())
      wire.on('data', () => {})
      wire.on('error', (err: unknown) => errors.push(err))
      wire.on('extended', (name: string) => {
        if (name === 'handshake' && magnet) wire.ut_metadata?.fetch()
      })
      let metadata: Uint8Array | undefined
      wire.ut_metadata?.on('metadata', () => {
        metadata = wire.ut_metadata?.metadata ?? undefined
      })
      wire.ut_metadata?.on('warning', () => {})
      wire.ut_pex?.on('warning', () => {})
      wire.handshake(INFO_HASH, PEER_ID, { dht: false })
      for (let o = 0; o < stream.length && !wire.destroyed; o += chunk) {
        ;(wire as unknown as { write(b: Uint8Array): boolean }).write(stream.subarray(o, o + chunk))
      }
      // ut_metadata checks a completed fetch in an async function: let it finish.
      await new Promise((resolve) => setImmediate(resolve))
      await new Promise((resolve) => setImmediate(resolve))
      const bad = errors.find((e) => !(e instanceof PunchswarmError))
      if (bad) throw new FuzzViolation(`wire failed with an untyped error: ${String(bad)}`)
      if (rejections.length) throw new FuzzViolation(`unhandled rejection: ${String(rejections[0])}`)
      if (magnet && metadata && !Buffer.from(metadata).equals(Buffer.from(INFO)))
        throw new FuzzViolation('ut_metadata accepted metadata that does not hash to the info hash')
      return { errors: errors.length, metadata: metadata?.length ?? 0 }
    } finally {
      process.off('unhandledRejection', onRejection)
      wire.destroy()
    }
  },
  allowed: [],
  size: ({ stream }) => stream.length,
}

function be32(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
}
