import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { seqAdd } from '../../../protocol/utp/seq.js'
import { encodePacket, UTP_TYPES, type UtpPacket } from '../../../protocol/utp/utp-packet.js'
import { receiveInto, simEndpoint, simWorld, startTransfer } from './utp-sim.js'

const A = '198.18.0.1'
const B = '198.18.0.2'
const C = '198.18.0.3'

/** Ways a datagram can be wrong; each one is built against the live connection when it is sent. */
type Mutation =
  | { kind: 'truncated'; bytes: Uint8Array }
  | { kind: 'bad-version'; version: number }
  | { kind: 'bad-type'; type: number }
  | { kind: 'cut-extension'; keep: number }
  | { kind: 'wrong-connection-id'; delta: number; type: number; fromStranger: boolean }
  | { kind: 'seq-far-ahead'; ahead: number; payload: Uint8Array }
  | { kind: 'seq-behind'; behind: number; payload: Uint8Array }
  | { kind: 'ack-garbage'; ack: number; window: number }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('truncated' as const),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 19 }),
  }),
  fc.record({
    kind: fc.constant('bad-version' as const),
    version: fc.integer({ min: 0, max: 15 }).filter((v) => v !== 1),
  }),
  fc.record({ kind: fc.constant('bad-type' as const), type: fc.integer({ min: 5, max: 15 }) }),
  fc.record({ kind: fc.constant('cut-extension' as const), keep: fc.integer({ min: 0, max: 5 }) }),
  fc.record({
    kind: fc.constant('wrong-connection-id' as const),
    delta: fc.integer({ min: 2, max: 0xfff0 }),
    // A SYN with a fresh id is a new connection, not a malformed packet: types DATA..RESET only.
    type: fc.integer({ min: 0, max: 3 }),
    fromStranger: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('seq-far-ahead' as const),
    ahead: fc.integer({ min: 8193, max: 32767 }),
    payload: fc.uint8Array({ minLength: 1, maxLength: 200 }),
  }),
  fc.record({
    kind: fc.constant('seq-behind' as const),
    behind: fc.integer({ min: 1, max: 30000 }),
    payload: fc.uint8Array({ minLength: 1, maxLength: 200 }),
  }),
  fc.record({
    kind: fc.constant('ack-garbage' as const),
    ack: fc.integer({ min: 0, max: 0xffff }),
    window: fc.nat({ max: 0xffffffff }),
  }),
)

describe('malformed uTP packets against a live transfer', () => {
  it('are dropped or answered with RESET, never crash, never corrupt the stream', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(fc.tuple(fc.integer({ min: 50, max: 3000 }), mutationArb), { minLength: 1, maxLength: 40 }),
        (seed, injections) => {
          const world = simWorld(seed)
          const { net, clock } = world
          net.link(A, B, { delayMs: 10, loss: 0.02, reorder: 0.02, duplicate: 0.02 })
          const sa = net.bind(A, 6881)
          const sb = net.bind(B, 6881)
          const stranger = net.bind(C, 6881)
          net.link(C, B, { delayMs: 10 })
          net.uplink(A, { rateBytesPerSec: 2_000_000, queueBytes: 100_000 })
          const client = simEndpoint(world, sa)
          const server = simEndpoint(world, sb)
          const receivers = receiveInto(world, server)
          const t = startTransfer(world, client, sb.address(), receivers, 512 * 1024)
          const resetsToStranger: UtpPacket[] = []
          stranger.on('message', (b) => resetsToStranger.push(b as unknown as UtpPacket))
          let strangerSent = 0

          // Both ends hold the connection first: before the server has it, a packet spoofed with the
          // client's own address and id rightly gets the client reset (BEP 29), which is not the point.
          clock.runUntil(() => t.received.bytes > 0, 60_000)
          for (const [at, m] of injections) {
            clock.setTimer(at, () => {
              const c = t.connection
              const base: UtpPacket = {
                type: 'data',
                connectionId: c.sendId,
                timestamp: 1,
                timestampDiff: 0,
                windowSize: 65536,
                seq: c.nextSeq,
                ack: 0,
                payload: new Uint8Array(0),
              }
              // Arrives at the server as if from the client: corrupted or spoofed in flight.
              const inject = (bytes: Uint8Array) => sb.emit('message', bytes, sa.address())
              switch (m.kind) {
                case 'truncated':
                  m.bytes[0] = 0x01
                  return inject(m.bytes)
                case 'bad-version': {
                  const b = encodePacket(base)
                  b[0] = (b[0]! & 0xf0) | m.version
                  return inject(b)
                }
                case 'bad-type': {
                  const b = encodePacket(base)
                  b[0] = (m.type << 4) | 1
                  return inject(b)
                }
                case 'cut-extension': {
                  const b = encodePacket({ ...base, type: 'state', sack: new Uint8Array(8) })
                  return inject(b.subarray(0, 20 + m.keep))
                }
                case 'wrong-connection-id': {
                  const p = { ...base, type: UTP_TYPES[m.type]!, connectionId: (c.sendId + m.delta) & 0xffff }
                  if (m.fromStranger) {
                    if (p.type !== 'reset') strangerSent++
                    stranger.send(encodePacket(p), sb.address())
                    return
                  }
                  return inject(encodePacket(p))
                }
                case 'seq-far-ahead':
                  return inject(
                    encodePacket({ ...base, seq: seqAdd(c.oldestUnackedSeq, m.ahead), payload: m.payload }),
                  )
                case 'seq-behind':
                  return inject(
                    encodePacket({
                      ...base,
                      seq: seqAdd(c.oldestUnackedSeq, -1 - m.behind),
                      payload: m.payload,
                    }),
                  )
                case 'ack-garbage':
                  return inject(
                    encodePacket({
                      ...base,
                      type: 'state',
                      ack: m.ack,
                      windowSize: m.window,
                      seq: c.nextSeq,
                    }),
                  )
              }
            })
          }
          const done = clock.runUntil(() => t.finished || t.error !== undefined, 600_000)
          expect(t.error).toBeUndefined()
          expect(done).toBe(true)
          expect(t.received.bytes).toBe(t.total)
          expect(t.receivedDigest()).toBe(t.sentDigest())
          // Every stray packet from a stranger that was not itself a RESET got a RESET back: run past
          // the last injection (the transfer may finish before it) and the link's delay.
          clock.advance(Math.max(...injections.map(([at]) => at)) + 100)
          expect(resetsToStranger.length).toBe(strangerSent)
          for (const b of resetsToStranger as unknown as Uint8Array[]) expect(b[0]! >> 4).toBe(3)
        },
      ),
      { numRuns: 25 },
    )
  })
})
