import { createHash } from 'node:crypto'
import Wire from 'bittorrent-protocol'
import { describe, expect, it } from 'vitest'
import { frame, handshakeBytes } from '../../../../bench/fuzz/codec-targets.js'
import { guardWire, safeUtMetadata } from '../../../../client/swarm/wire-guard.js'
import { encodeBencode } from '../../../../protocol/bencode-codec.js'
import { PunchswarmError } from '../../../../protocol/errors.js'

const INFO = encodeBencode({ name: 'a', 'piece length': 16384, length: 10, pieces: new Uint8Array(20) })
const INFO_HASH = new Uint8Array(createHash('sha1').update(INFO).digest())

/** A guarded wire fetching metadata (a magnet download), as the session sets one up. */
function magnetWire() {
  const wire = guardWire(new Wire())
  wire.use(safeUtMetadata())
  wire.on('data', () => {})
  wire.on('extended', (name: string) => {
    if (name === 'handshake') wire.ut_metadata?.fetch()
  })
  const errors: unknown[] = []
  wire.on('error', (err: unknown) => errors.push(err))
  wire.handshake(INFO_HASH, new Uint8Array(20).fill(1), { dht: false })
  const write = (b: Uint8Array) => (wire as unknown as { write(b: Uint8Array): void }).write(b)
  write(handshakeBytes(INFO_HASH, new Uint8Array(20).fill(2)))
  write(frame(20, Uint8Array.of(0), encodeBencode({ m: { ut_metadata: 3 }, metadata_size: INFO.length })))
  return { wire, errors, write }
}

const settle = () => new Promise((r) => setTimeout(r, 20))

describe('guardWire and safeUtMetadata', () => {
  it('a ut_metadata piece past the metadata end destroys that wire with a typed error, not the process', async () => {
    const { wire, errors, write } = magnetWire()
    // Stock ut_metadata writes this at offset 5 * 16 KiB of a 60-byte buffer: a RangeError thrown
    // from a microtask, which ended the process before the guard.
    write(frame(20, Uint8Array.of(1), encodeBencode({ msg_type: 1, piece: 5 }), INFO))
    await settle()
    expect(wire.destroyed).toBe(true)
    expect(errors[0]).toBeInstanceOf(PunchswarmError)
    expect((errors[0] as PunchswarmError).code).toBe('PROTOCOL_PEER_MISBEHAVED')
  })

  it('a length prefix of 4 GiB destroys the wire at once instead of buffering', async () => {
    const { wire, errors, write } = magnetWire()
    write(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 7))
    await settle()
    expect(wire.destroyed).toBe(true)
    expect((errors[0] as PunchswarmError).code).toBe('DECODE_OVERSIZED')
  })

  it('metadata overwritten while its hash is checked is not taken, and nothing rejects unhandled', async () => {
    const { wire, write } = magnetWire()
    let metadata: Uint8Array | undefined
    wire.ut_metadata?.on('metadata', () => {
      metadata = wire.ut_metadata?.metadata ?? undefined
    })
    wire.ut_metadata?.on('warning', () => {})
    // The right bytes, then at once the same piece again with garbage: stock ut_metadata hashed the
    // first, then decoded the second (unhandled rejection) or kept it (unverified metadata).
    write(
      Buffer.concat([
        frame(20, Uint8Array.of(1), encodeBencode({ msg_type: 1, piece: 0 }), INFO),
        frame(
          20,
          Uint8Array.of(1),
          encodeBencode({ msg_type: 1, piece: 0 }),
          new Uint8Array(INFO.length).fill(0x63),
        ),
      ]),
    )
    await settle()
    expect(metadata && Buffer.from(metadata).equals(Buffer.from(INFO))).toBe(true)
    wire.destroy()
  })
})
