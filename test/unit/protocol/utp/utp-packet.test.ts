import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DecodeError } from '../../../../protocol/errors.js'
import { classifyClientDatagram } from '../../../../protocol/udp-framing.js'
import { seqAdd, seqDiff, u32Diff } from '../../../../protocol/utp/seq.js'
import { decodePacket, encodePacket, UTP_TYPES, type UtpPacket } from '../../../../protocol/utp/utp-packet.js'

const packetArb: fc.Arbitrary<UtpPacket> = fc
  .record({
    type: fc.constantFrom(...UTP_TYPES),
    connectionId: fc.integer({ min: 0, max: 0xffff }),
    timestamp: fc.nat({ max: 0xffffffff }),
    timestampDiff: fc.nat({ max: 0xffffffff }),
    windowSize: fc.nat({ max: 0xffffffff }),
    seq: fc.integer({ min: 0, max: 0xffff }),
    ack: fc.integer({ min: 0, max: 0xffff }),
    sackWords: fc.integer({ min: 0, max: 8 }),
    sackSeed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    payload: fc.uint8Array({ maxLength: 1500 }),
  })
  .map(({ sackWords, sackSeed, ...p }) =>
    sackWords === 0 ? p : { ...p, sack: Uint8Array.from(sackSeed.subarray(0, sackWords * 4)) },
  )

describe('uTP packet codec (BEP 29)', () => {
  it('writes the header fields where BEP 29 puts them', () => {
    const b = encodePacket({
      type: 'state',
      connectionId: 0x1234,
      timestamp: 0xa1b2c3d4,
      timestampDiff: 0x01020304,
      windowSize: 0x00100000,
      seq: 0xbeef,
      ack: 0x0102,
      sack: Uint8Array.of(0b101, 0, 0, 0x80),
      payload: new Uint8Array(0),
    })
    expect([...b.subarray(0, 20)]).toEqual([
      0x21, 0x01, 0x12, 0x34, 0xa1, 0xb2, 0xc3, 0xd4, 0x01, 0x02, 0x03, 0x04, 0x00, 0x10, 0x00, 0x00, 0xbe,
      0xef, 0x01, 0x02,
    ])
    // Extension chain: next = 0, length 4, bitmask.
    expect([...b.subarray(20)]).toEqual([0, 4, 0b101, 0, 0, 0x80])
    expect(classifyClientDatagram(b)).toBe('utp')
  })

  it('round-trips every field, with and without a selective ack', () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        const d = decodePacket(encodePacket(p))
        expect({ ...d, payload: [...d.payload], sack: d.sack && [...d.sack] }).toEqual({
          ...p,
          payload: [...p.payload],
          sack: p.sack && [...p.sack],
        })
      }),
    )
  })

  it('reads a selective ack of any byte count, as libtorrent sends them', () => {
    const b = Uint8Array.from([0x21, 1, ...new Array(18).fill(0), 0, 3, 0b11, 0, 0x80])
    expect([...decodePacket(b).sack!]).toEqual([0b11, 0, 0x80])
  })

  it('skips unknown extensions and keeps the payload after them', () => {
    const b = Uint8Array.from([
      0x01, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 4, 1, 4, 9, 9, 9, 9, 0, 4, 1, 0, 0, 0,
      0xaa,
    ])
    const p = decodePacket(b)
    expect(p.type).toBe('data')
    expect([...p.sack!]).toEqual([1, 0, 0, 0])
    expect([...p.payload]).toEqual([0xaa])
  })

  it.each([
    ['shorter than a header', Uint8Array.of(0x01, 0, 0, 1), 'DECODE_TRUNCATED'],
    ['version 2', Uint8Array.from({ length: 20 }, (_, i) => (i === 0 ? 0x02 : 0)), 'DECODE_BAD_VALUE'],
    ['type 5', Uint8Array.from({ length: 20 }, (_, i) => (i === 0 ? 0x51 : 0)), 'DECODE_BAD_VALUE'],
    ['type 15', Uint8Array.from({ length: 20 }, (_, i) => (i === 0 ? 0xf1 : 0)), 'DECODE_BAD_VALUE'],
    [
      'an extension header cut off',
      Uint8Array.from({ length: 21 }, (_, i) => (i === 0 ? 0x21 : i === 1 ? 1 : 0)),
      'DECODE_TRUNCATED',
    ],
    [
      'an extension longer than the packet',
      Uint8Array.from([0x21, 1, ...new Array(18).fill(0), 0, 8, 1, 2]),
      'DECODE_TRUNCATED',
    ],
    [
      'a selective ack of 0 bytes',
      Uint8Array.from([0x21, 1, ...new Array(18).fill(0), 0, 0]),
      'DECODE_BAD_VALUE',
    ],
    [
      'a chain that never ends',
      Uint8Array.from([0x21, 7, ...new Array(18).fill(0), 7, 0, 7, 0, 7]),
      'DECODE_TRUNCATED',
    ],
  ])('rejects %s', (_name, bytes, code) => {
    expect(() => decodePacket(bytes)).toThrow(expect.objectContaining({ code }))
  })

  it('never throws anything but DecodeError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 4 }), (bytes, type) => {
        // Half the cases get a valid first byte so the extension parser is exercised too.
        if (bytes.length > 0 && type % 2 === 0) bytes[0] = (type << 4) | 1
        try {
          const p = decodePacket(bytes)
          expect(UTP_TYPES).toContain(p.type)
          expect(p.payload.length).toBeLessThanOrEqual(bytes.length - 20)
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 5000 },
    )
  })
})

describe('16-bit sequence arithmetic', () => {
  it('orders numbers across the wrap', () => {
    expect(seqDiff(2, 0xfffe)).toBe(4)
    expect(seqDiff(0xfffe, 2)).toBe(-4)
    expect(seqAdd(0xffff, 1)).toBe(0)
    expect(seqAdd(0, -1)).toBe(0xffff)
    expect(u32Diff(5, 0xfffffffb)).toBe(10)
  })

  it('seqDiff inverts seqAdd within half the space', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: -32768, max: 32767 }), (a, n) => {
        expect(seqDiff(seqAdd(a, n), a)).toBe(n)
      }),
    )
  })
})
