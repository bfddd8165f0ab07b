import { describe, expect, it } from 'vitest'
import type { Random } from '../../../../protocol/clock.js'
import type { UdpAddress } from '../../../../protocol/datagram-socket.js'
import { decodeRendezvous, encodeRendezvous } from '../../../../protocol/rendezvous/rendezvous-codec.js'
import type { RendezvousMessage, WireNatClass } from '../../../../protocol/rendezvous/rendezvous-messages.js'
import {
  PUSH_RETRY_MS,
  REGISTRATION_TTL_MS,
  RendezvousRelay,
} from '../../../../protocol/rendezvous/rendezvous-relay.js'

/** Deterministic stand-in for randomness: a counter. */
function counterRandom(): Random {
  let n = 1
  return {
    next: () => (n++ % 1000) / 1000,
    int: (max) => n++ % max,
    bytes: (b) => b.fill(n++ & 0xff),
  }
}

const swarm = new Uint8Array(20).fill(0xaa)
const otherSwarm = new Uint8Array(20).fill(0xbb)
const idR = new Uint8Array(20).fill(1)
const idG = new Uint8Array(20).fill(2)
const addrR: UdpAddress = { address: '203.0.113.10', port: 40000, family: 'IPv4' }
const addrG: UdpAddress = { address: '203.0.113.20', port: 50000, family: 'IPv4' }

function setup() {
  const relay = new RendezvousRelay({ secret: new Uint8Array(32).fill(9) }, { random: counterRandom() })
  const tokR = relay.issueToken(swarm, idR, addrR.address, 0)
  const tokG = relay.issueToken(swarm, idG, addrG.address, 0)
  const register = (
    peerId: Uint8Array,
    token: Uint8Array,
    from: UdpAddress,
    now = 0,
    nat: WireNatClass = 'cone',
  ) =>
    relay.receive(
      encodeRendezvous({
        type: 'register',
        txid: 1,
        infoHash: swarm,
        peerId,
        token,
        natClass: nat,
        rttMs: 40,
      }),
      from,
      now,
    )
  const connect = (now = 0, over: Partial<Extract<RendezvousMessage, { type: 'connectRequest' }>> = {}) =>
    relay.receive(
      encodeRendezvous({
        type: 'connectRequest',
        txid: 77,
        infoHash: swarm,
        peerId: idR,
        token: tokR,
        targetPeerId: idG,
        natClass: 'cone',
        rttMs: 100,
        ...over,
      }),
      addrR,
      now,
    )
  return { relay, tokR, tokG, register, connect }
}

const decoded = (out: { sends: { bytes: Uint8Array; to: UdpAddress }[] }) =>
  out.sends.map((s) => ({ msg: decodeRendezvous(s.bytes), to: s.to }))

describe('rendezvous relay', () => {
  it('tells a peer its public endpoint', () => {
    const { relay } = setup()
    const [reply] = decoded(
      relay.receive(encodeRendezvous({ type: 'bindingRequest', txid: 5, changePort: false }), addrR, 0),
    )
    expect(reply?.msg).toMatchObject({
      type: 'bindingResponse',
      txid: 5,
      observed: { address: addrR.address, port: addrR.port },
    })
    const changed = relay.receive(
      encodeRendezvous({ type: 'bindingRequest', txid: 6, changePort: true }),
      addrR,
      0,
    )
    expect(changed.sends[0]?.fromAltPort).toBe(true)
  })

  it('registers a peer with its token and relays a connect-request to it with both endpoints', () => {
    const { register, tokG, connect } = setup()
    const reg = decoded(register(idG, tokG, addrG))
    expect(reg[0]?.msg).toMatchObject({ type: 'registerAck', observed: { port: addrG.port } })
    const out = decoded(connect())
    const ack = out.find((s) => s.msg.type === 'connectAck')
    const push = out.find((s) => s.msg.type === 'connectPush')
    expect(ack?.to).toEqual(addrR)
    expect(ack?.msg).toMatchObject({
      txid: 77,
      target: { address: addrG.address, port: addrG.port },
      targetNatClass: 'cone',
    })
    expect(push?.to).toMatchObject({ address: addrG.address, port: addrG.port })
    expect(push?.msg).toMatchObject({
      requester: { address: addrR.address, port: addrR.port },
      requesterPeerId: idR,
    })
    // Same nonce both ways; the side with the shorter round trip waits for the other.
    if (ack?.msg.type === 'connectAck' && push?.msg.type === 'connectPush') {
      expect(ack.msg.nonce).toEqual(push.msg.nonce)
      expect(ack.msg.punchDelayMs).toBe(0)
      expect(push.msg.punchDelayMs).toBe(30)
    }
  })

  it('refuses a registration whose token belongs to another address or peer', () => {
    const { register, tokG } = setup()
    const stolen = decoded(register(idG, tokG, { address: '198.18.9.9', port: 1, family: 'IPv4' }))
    expect(stolen[0]?.msg).toMatchObject({ type: 'error', code: 'badToken' })
    const other = decoded(register(idR, tokG, addrG))
    expect(other[0]?.msg).toMatchObject({ type: 'error', code: 'badToken' })
  })

  it('refuses an expired token', () => {
    const { register, tokG } = setup()
    const out = decoded(register(idG, tokG, addrG, 4_000_000))
    expect(out[0]?.msg).toMatchObject({
      type: 'error',
      code: 'badToken',
      message: expect.stringMatching(/expired/),
    })
  })

  it('relays only to registered peers of the same swarm', () => {
    const { relay, connect } = setup()
    expect(decoded(connect())[0]?.msg).toMatchObject({ type: 'error', code: 'notRegistered' })
    const tokOther = relay.issueToken(otherSwarm, idG, addrG.address, 0)
    relay.receive(
      encodeRendezvous({
        type: 'register',
        txid: 1,
        infoHash: otherSwarm,
        peerId: idG,
        token: tokOther,
        natClass: 'cone',
        rttMs: 1,
      }),
      addrG,
      0,
    )
    const out = decoded(connect())
    expect(out).toHaveLength(1)
    expect(out[0]?.msg).toMatchObject({ type: 'error', code: 'notRegistered' })
  })

  it('retries an unacknowledged push at most three sends in all, and stops on ack', () => {
    const { relay, register, tokG, connect } = setup()
    register(idG, tokG, addrG)
    connect()
    let sent = 1
    for (let t = PUSH_RETRY_MS; t <= PUSH_RETRY_MS * 10; t += PUSH_RETRY_MS)
      sent += relay.tick(t).sends.length
    expect(sent).toBe(3)

    const second = setup()
    second.register(idG, second.tokG, addrG)
    const push = decoded(second.connect()).find((s) => s.msg.type === 'connectPush')!
    second.relay.receive(encodeRendezvous({ type: 'pushAck', txid: push.msg.txid }), addrG, 10)
    expect(second.relay.tick(PUSH_RETRY_MS * 2).sends).toHaveLength(0)
  })

  it('never sends more bytes for a connect-request than it received', () => {
    const { relay, register, tokG, connect } = setup()
    register(idG, tokG, addrG)
    const request = encodeRendezvous({
      type: 'connectRequest',
      txid: 1,
      infoHash: swarm,
      peerId: idR,
      token: new Uint8Array(20),
      targetPeerId: idG,
      natClass: 'cone',
      rttMs: 1,
    })
    let out = connect().sends.reduce((n, s) => n + s.bytes.length, 0)
    for (let t = 1; t < 10; t++)
      out += relay.tick(t * PUSH_RETRY_MS).sends.reduce((n, s) => n + s.bytes.length, 0)
    expect(out).toBeLessThanOrEqual(request.length)
  })

  it('answers a resent connect-request with the same ack and sets up no second punch', () => {
    const { register, tokG, connect } = setup()
    register(idG, tokG, addrG)
    const first = connect(0)
    // The ack was lost; the requester resends the very same request.
    const again = connect(700)
    expect(again.sends).toHaveLength(1)
    expect(again.sends[0]?.to).toEqual(addrR)
    expect(Buffer.from(again.sends[0]!.bytes)).toEqual(
      Buffer.from(first.sends.find((s) => s.to === addrR)!.bytes),
    )
    expect(again.events.filter((e) => e.type === 'relayed')).toHaveLength(0)
    // A new request (new transaction id) is a new punch.
    expect(decoded(connect(800, { txid: 78 })).map((s) => s.msg.type)).toContain('connectPush')
    // Long after, the same transaction id is a new request again.
    expect(decoded(connect(20_000)).map((s) => s.msg.type)).toContain('connectPush')
  })

  it('rate-limits connect-requests per requester', () => {
    const { register, tokG, connect } = setup()
    register(idG, tokG, addrG)
    const codes = Array.from({ length: 30 }, (_, i) => decoded(connect(0, { txid: 1000 + i }))[0]?.msg)
    expect(codes.filter((m) => m?.type === 'error' && m.code === 'rateLimited').length).toBeGreaterThan(15)
    expect(decoded(connect(10_000))[0]?.msg.type).toBe('connectAck')
  })

  it('reports symmetric-to-symmetric pairs as needing a relay', () => {
    const { register, tokG, connect } = setup()
    register(idG, tokG, addrG, 0, 'symmetric')
    expect(decoded(connect(0, { natClass: 'symmetric' }))[0]?.msg).toMatchObject({
      type: 'error',
      code: 'needsRelay',
    })
  })

  it('forgets a registration that stops its keepalives', () => {
    const { relay, register, tokG, connect } = setup()
    register(idG, tokG, addrG)
    register(idG, tokG, addrG, REGISTRATION_TTL_MS - 1)
    expect(relay.tick(REGISTRATION_TTL_MS + 10).events).toHaveLength(0)
    const expired = relay.tick(REGISTRATION_TTL_MS * 2 + 10).events
    expect(expired.map((e) => e.type)).toEqual(['expired'])
    expect(decoded(connect(REGISTRATION_TTL_MS * 2 + 20))[0]?.msg).toMatchObject({ code: 'notRegistered' })
  })

  it('drops small garbage silently and answers larger garbage with a smaller error', () => {
    const { relay } = setup()
    expect(relay.receive(Uint8Array.of(0xe5, 0x50, 0x53, 0x31, 0x99), addrR, 0).sends).toHaveLength(0)
    const big = new Uint8Array(100)
    big.set([0xe5, 0x50, 0x53, 0x31, 0x99])
    const out = relay.receive(big, addrR, 0)
    expect(out.sends).toHaveLength(1)
    expect(out.sends[0]!.bytes.length).toBeLessThan(big.length)
  })
})

describe('rendezvous relay punch results', () => {
  it('counts a punch once, and only one it set up', () => {
    const { relay, register, tokG, connect } = setup()
    register(idG, tokG, addrG)
    const ack = decoded(connect()).find((x) => x.msg.type === 'connectAck')!
    const nonceOf = ack.msg.type === 'connectAck' ? ack.msg.nonce : new Uint8Array(8)
    const report = (nonce: Uint8Array, from: UdpAddress) =>
      relay.receive(
        encodeRendezvous({
          type: 'punchResult',
          txid: 3,
          infoHash: swarm,
          nonce,
          success: true,
          elapsedMs: 80,
        }),
        from,
        100,
      )
    const first = report(nonceOf, addrR)
    expect(first.events).toEqual([{ type: 'punchResult', infoHash: swarm, success: true, elapsedMs: 80 }])
    expect(decodeRendezvous(first.sends[0]!.bytes).type).toBe('resultAck')
    expect(report(nonceOf, addrG).events).toHaveLength(0)
    expect(report(new Uint8Array(8).fill(0x55), addrR).events).toHaveLength(0)
  })
})

describe('rendezvous relay registry', () => {
  it('lists the registered peers of one swarm only', () => {
    const { relay, register, tokG } = setup()
    register(idG, tokG, addrG)
    const tokOther = relay.issueToken(otherSwarm, idR, addrR.address, 0)
    relay.receive(
      encodeRendezvous({
        type: 'register',
        txid: 1,
        infoHash: otherSwarm,
        peerId: idR,
        token: tokOther,
        natClass: 'cone',
        rttMs: 1,
      }),
      addrR,
      0,
    )
    expect(relay.registered(swarm, 10).map((p) => p.peerId)).toEqual([idG])
    expect(relay.registered(otherSwarm, 10).map((p) => p.peerId)).toEqual([idR])
    relay.tick(REGISTRATION_TTL_MS * 2)
    expect(relay.registered(swarm, 10)).toEqual([])
    expect(relay.registrationCount).toBe(0)
  })
})
