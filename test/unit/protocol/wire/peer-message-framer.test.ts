import { describe, expect, it } from 'vitest'
import { frame, handshakeBytes } from '../../../../bench/fuzz/codec-targets.js'
import { DecodeError } from '../../../../protocol/errors.js'
import { MAX_PEER_MESSAGE_BYTES, PeerMessageFramer } from '../../../../protocol/wire/peer-message-framer.js'

const handshake = handshakeBytes(new Uint8Array(20), new Uint8Array(20))

function codeOf(fn: () => void): string | undefined {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError)
    return (err as DecodeError).code
  }
  return undefined
}

describe('PeerMessageFramer', () => {
  it('passes a handshake and well-formed messages, however the stream is cut', () => {
    const stream = Buffer.concat([
      handshake,
      frame(2),
      frame(4, new Uint8Array(4)),
      frame(5, new Uint8Array(3)),
      frame(7, new Uint8Array(8), new Uint8Array(300)),
      new Uint8Array(4), // keep-alive
      frame(20, Uint8Array.of(0), Buffer.from('de')),
      frame(0x63, Uint8Array.of(1, 2)), // unknown id: ignored, as BEP 3 asks
    ])
    for (const cut of [1, 3, 7, 68, 1000]) {
      const f = new PeerMessageFramer()
      for (let o = 0; o < stream.length; o += cut) f.push(stream.subarray(o, o + cut))
      expect(f.messages).toBe(7)
    }
  })

  it('refuses a 4 GiB length prefix as soon as its fourth byte arrives', () => {
    const f = new PeerMessageFramer()
    f.push(handshake)
    expect(codeOf(() => f.push(Uint8Array.of(0, 0, 0, 1, 2, 0xff, 0xff, 0xff, 0xff)))).toBe(
      'DECODE_OVERSIZED',
    )
    // Where it broke: the valid "interested" before it can still be parsed.
    expect(f.failedAt).toBe(8)
    const g = new PeerMessageFramer()
    g.push(handshake)
    const over = MAX_PEER_MESSAGE_BYTES + 1
    expect(codeOf(() => g.push(Uint8Array.of(over >>> 24, over >>> 16, over >>> 8, over)))).toBe(
      'DECODE_OVERSIZED',
    )
  })

  it('refuses fixed-size messages of the wrong size and a non-BitTorrent handshake', () => {
    const afterHandshake = (b: Uint8Array) => () => {
      const f = new PeerMessageFramer()
      f.push(handshake)
      f.push(b)
    }
    expect(codeOf(afterHandshake(frame(4, new Uint8Array(2))))).toBe('DECODE_BAD_VALUE') // have, short
    expect(codeOf(afterHandshake(frame(6, new Uint8Array(16))))).toBe('DECODE_BAD_VALUE') // request, long
    expect(codeOf(afterHandshake(frame(7, new Uint8Array(4))))).toBe('DECODE_BAD_VALUE') // piece without begin
    expect(codeOf(afterHandshake(frame(20)))).toBe('DECODE_BAD_VALUE') // extended without an id
    expect(codeOf(() => new PeerMessageFramer().push(Uint8Array.of(18)))).toBe('DECODE_BAD_MAGIC')
    const wrong = Uint8Array.from(handshake)
    wrong[5] = 0x21
    expect(codeOf(() => new PeerMessageFramer().push(wrong))).toBe('DECODE_BAD_MAGIC')
  })
})
