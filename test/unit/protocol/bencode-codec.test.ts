import { describe, expect, it } from 'vitest'
import { bencodePrefixLength, decodeBencode } from '../../../protocol/bencode-codec.js'
import { DecodeError } from '../../../protocol/errors.js'
import { decodeConnectAnswer } from '../../../protocol/rendezvous/connect-query.js'

const bytes = (s: string) => new TextEncoder().encode(s)

/** Inputs on which the `bencode` package (2.x and 4.x) loops forever: negative string lengths. */
const HANGS_THE_BENCODE_PACKAGE = [
  'd1:r-3:seqe',
  '-3:abc',
  'l-1:e',
  'd1:ad2:id20:aaaaaaaaaaaaaaaaaaaa1:r-3:xyzee',
]

describe('bencodePrefixLength', () => {
  it('measures the one value at the start and ignores what follows it', () => {
    expect(bencodePrefixLength(bytes('d8:msg_typei1e5:piecei0eeRAW PIECE DATA'))).toBe(25)
    expect(bencodePrefixLength(bytes('li1e3:abce'))).toBe(10)
    expect(bencodePrefixLength(bytes('0:'))).toBe(2)
  })

  it.each(HANGS_THE_BENCODE_PACKAGE)('refuses %s with a DecodeError', (input) => {
    expect(() => bencodePrefixLength(bytes(input))).toThrow(DecodeError)
    expect(() => decodeBencode(bytes(input))).toThrow(DecodeError)
  })

  it('refuses truncated values and leading zeros in lengths', () => {
    for (const input of ['d1:a', 'i12', '5:abc', '01:a', '']) {
      expect(() => bencodePrefixLength(bytes(input)), input).toThrow(DecodeError)
    }
  })
})

describe("a tracker's /connect answer", () => {
  it('with a negative string length is a DecodeError, not a hang', () => {
    expect(() => decodeConnectAnswer(bytes('d14:failure reason-3:abce'))).toThrow(DecodeError)
  })
})
