import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DecodeError } from '../../../../protocol/errors.js'
import { decodeRendezvous, encodeRendezvous } from '../../../../protocol/rendezvous/rendezvous-codec.js'
import {
  CONNECT_REQUEST_MIN_BYTES,
  PUSH_MAX_SENDS,
  type RendezvousMessage,
} from '../../../../protocol/rendezvous/rendezvous-messages.js'
import { RENDEZVOUS_MAGIC } from '../../../../protocol/udp-framing.js'
import { rendezvousMessageArb } from '../../../helpers/rendezvous-arbitrary.js'

const message = rendezvousMessageArb

/** Normalises addresses the way the codec prints them, so round trips compare equal. */
function normalise(m: RendezvousMessage): unknown {
  return decodeRendezvous(encodeRendezvous(m))
}

describe('rendezvous codec', () => {
  it('round-trips every message type', () => {
    fc.assert(
      fc.property(message, (m) => {
        const once = normalise(m)
        expect(normalise(once as RendezvousMessage)).toEqual(once)
        expect((once as RendezvousMessage).type).toBe(m.type)
        expect((once as RendezvousMessage).txid).toBe(m.txid)
      }),
    )
  })

  it('keeps IPv4 endpoints and bytes exactly', () => {
    const m: RendezvousMessage = {
      type: 'connectPush',
      txid: 7,
      infoHash: new Uint8Array(20).fill(1),
      requesterPeerId: new Uint8Array(20).fill(2),
      requester: { address: '203.0.113.5', port: 6881, family: 'IPv4' },
      requesterLan: { address: '198.18.1.2', port: 6881, family: 'IPv4' },
      requesterNatClass: 'cone',
      punchDelayMs: 120,
      nonce: new Uint8Array(8).fill(9),
    }
    expect(decodeRendezvous(encodeRendezvous(m))).toEqual(m)
  })

  it('decodes arbitrary bytes or throws DecodeError, nothing else', () => {
    const withMagic = fc.uint8Array({ maxLength: 500 }).map((tail) => {
      const b = new Uint8Array(4 + tail.length)
      b.set(RENDEZVOUS_MAGIC)
      b.set(tail, 4)
      return b
    })
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), withMagic), (b) => {
        try {
          decodeRendezvous(b)
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('rejects every truncation of a valid message', () => {
    fc.assert(
      fc.property(message, (m) => {
        const full = encodeRendezvous(m)
        // A connect-request's padding is part of its required size, so every prefix is refused.
        for (let n = 0; n < full.length; n++) {
          expect(() => decodeRendezvous(full.subarray(0, n))).toThrow(DecodeError)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('pads connect-requests so the relay never sends more than it received for them', () => {
    // Worst case: IPv6 endpoints everywhere make pushes and acks their largest.
    const wide = { address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 }
    const push = encodeRendezvous({
      type: 'connectPush',
      txid: 1,
      infoHash: new Uint8Array(20),
      requesterPeerId: new Uint8Array(20),
      requester: wide,
      requesterLan: wide,
      requesterNatClass: 'symmetric',
      punchDelayMs: 65535,
      nonce: new Uint8Array(8),
    })
    const ack = encodeRendezvous({
      type: 'connectAck',
      txid: 1,
      target: wide,
      targetLan: wide,
      targetNatClass: 'cone',
      punchDelayMs: 0,
      nonce: new Uint8Array(8),
    })
    expect(push.length * PUSH_MAX_SENDS + ack.length).toBeLessThanOrEqual(CONNECT_REQUEST_MIN_BYTES)
  })

  it('refuses an unpadded connect-request', () => {
    const full = encodeRendezvous({
      type: 'connectRequest',
      txid: 1,
      infoHash: new Uint8Array(20),
      peerId: new Uint8Array(20),
      token: new Uint8Array(20),
      targetPeerId: new Uint8Array(20),
      natClass: 'cone',
      rttMs: 10,
    })
    expect(full.length).toBe(CONNECT_REQUEST_MIN_BYTES)
    expect(() => decodeRendezvous(full.subarray(0, 120))).toThrowError(
      expect.objectContaining({ code: 'DECODE_TRUNCATED' }),
    )
  })
})
