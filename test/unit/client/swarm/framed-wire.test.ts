import Wire from 'bittorrent-protocol'
import { describe, expect, it } from 'vitest'
import { FramedWire } from '../../../../client/swarm/framed-wire.js'
import { seededBytes } from '../../../helpers/seeded-bytes.js'

const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
const message = (id: number, ...parts: Uint8Array[]) => {
  const body = Buffer.concat([Buffer.from([id]), ...parts])
  return Buffer.concat([u32(body.length), body])
}

/** A peer's bytes: handshake, bitfield, keep-alive, then pieces of several sizes and haves. */
function peerBytes(): Buffer {
  const handshake = Buffer.concat([
    Buffer.from([19]),
    Buffer.from('BitTorrent protocol'),
    Buffer.alloc(8),
    Buffer.alloc(20, 0xab),
    Buffer.alloc(20, 0xcd),
  ])
  const parts: Buffer[] = [handshake, message(5, Buffer.from([0xff, 0x80])), u32(0)]
  for (let i = 0; i < 40; i++) {
    parts.push(message(7, u32(i % 3), u32(i * 16384), seededBytes(i % 5 === 0 ? 3 : 16384, i)))
    parts.push(message(4, u32(i)))
  }
  return Buffer.concat(parts)
}

/**
 * What a wire reports from `bytes` written in chunks of the given sizes (cycled). A copy is written:
 * the Wire keeps the peer's bitfield in the bytes it was given and sets bits in it on each HAVE.
 */
function received(wire: Wire, original: Buffer, sizes: number[]): string[] {
  const bytes = Buffer.from(original)
  const seen: string[] = []
  wire.on('handshake', (infoHash: string, peerId: string) => seen.push(`handshake ${infoHash} ${peerId}`))
  wire.on('bitfield', () => seen.push(`bitfield ${wire.peerPieces.get(8)} ${wire.peerPieces.get(9)}`))
  wire.on('have', (i: number) => seen.push(`have ${i}`))
  wire.on('piece', (i: number, offset: number, block: Uint8Array) =>
    seen.push(`piece ${i} ${offset} ${Buffer.from(block).toString('base64')}`),
  )
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length]!
    wire._write(bytes.subarray(at, at + n), () => {})
    at += n
  }
  return seen
}

describe('FramedWire', () => {
  it('reports the same messages as the plain Wire whatever the chunking', () => {
    const bytes = peerBytes()
    const expected = received(new Wire(), bytes, [bytes.length])
    expect(expected.filter((e) => e.startsWith('piece'))).toHaveLength(40)
    expect(expected[0]).toBe(`handshake ${'ab'.repeat(20)} ${'cd'.repeat(20)}`)
    for (const sizes of [[bytes.length], [1], [3, 7, 2], [65536], [16397, 5, 60000], [4, 9, 16384]]) {
      expect(received(new FramedWire(), bytes, sizes), `chunks ${sizes}`).toEqual(expected)
    }
  })
})
