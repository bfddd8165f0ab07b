import fc from 'fast-check'
import {
  NAT_CLASS_CODES,
  RENDEZVOUS_ERROR_CODES,
  type RendezvousMessage,
  type WireNatClass,
} from '../../protocol/rendezvous/rendezvous-messages.js'

const id20 = fc.uint8Array({ minLength: 20, maxLength: 20 })
const nonce = fc.uint8Array({ minLength: 8, maxLength: 8 })
const txid = fc.integer({ min: 0, max: 0xffffffff })
const nat = fc.constantFrom(...(Object.keys(NAT_CLASS_CODES) as WireNatClass[]))
const port = fc.integer({ min: 1, max: 65535 })
const v4 = fc.ipV4().map((address) => ({ address, port: 0, family: 'IPv4' as const }))
const v6 = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .map((g) => ({ address: g.map((x) => x.toString(16)).join(':'), port: 0, family: 'IPv6' as const }))
const endpoint = fc.tuple(fc.oneof(v4, v6), port).map(([a, p]) => ({ ...a, port: p }))
const optEndpoint = fc.option(endpoint, { nil: undefined })
const token = fc.uint8Array({ minLength: 1, maxLength: 64 })

/** Any valid rendezvous message (docs/protocol/connect-request.md). */
export const rendezvousMessageArb: fc.Arbitrary<RendezvousMessage> = fc.oneof(
  fc.record({ type: fc.constant('bindingRequest' as const), txid, changePort: fc.boolean() }),
  fc.record({ type: fc.constant('bindingResponse' as const), txid, observed: endpoint }),
  fc.record({
    type: fc.constant('register' as const),
    txid,
    infoHash: id20,
    peerId: id20,
    token,
    lan: optEndpoint,
    natClass: nat,
    rttMs: fc.integer({ min: 0, max: 65535 }),
  }),
  fc.record({
    type: fc.constant('registerAck' as const),
    txid,
    observed: endpoint,
    keepaliveSeconds: fc.integer({ min: 0, max: 65535 }),
  }),
  fc.record({
    type: fc.constant('connectRequest' as const),
    txid,
    infoHash: id20,
    peerId: id20,
    token,
    targetPeerId: id20,
    lan: optEndpoint,
    natClass: nat,
    rttMs: fc.integer({ min: 0, max: 65535 }),
  }),
  fc.record({
    type: fc.constant('connectAck' as const),
    txid,
    target: endpoint,
    targetLan: optEndpoint,
    targetNatClass: nat,
    punchDelayMs: fc.integer({ min: 0, max: 65535 }),
    nonce,
  }),
  fc.record({
    type: fc.constant('connectPush' as const),
    txid,
    infoHash: id20,
    requesterPeerId: id20,
    requester: endpoint,
    requesterLan: optEndpoint,
    requesterNatClass: nat,
    punchDelayMs: fc.integer({ min: 0, max: 65535 }),
    nonce,
  }),
  fc.record({ type: fc.constant('pushAck' as const), txid }),
  fc.record({ type: fc.constant('punch' as const), txid, ack: fc.boolean(), nonce, peerId: id20 }),
  fc.record({
    type: fc.constant('punchResult' as const),
    txid,
    infoHash: id20,
    nonce,
    success: fc.boolean(),
    elapsedMs: fc.integer({ min: 0, max: 0xffffffff }),
  }),
  fc.record({ type: fc.constant('resultAck' as const), txid }),
  fc.record({
    type: fc.constant('error' as const),
    txid,
    code: fc.constantFrom(
      ...(Object.keys(RENDEZVOUS_ERROR_CODES) as (keyof typeof RENDEZVOUS_ERROR_CODES)[]),
    ),
    message: fc.string({ maxLength: 60 }),
  }),
)
