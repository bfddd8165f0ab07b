import { describe, expect, it } from 'vitest'
import type { UdpAddress } from '../../../../protocol/datagram-socket.js'
import { issueRegisterToken } from '../../../../protocol/rendezvous/register-token.js'
import { decodeRendezvous, encodeRendezvous } from '../../../../protocol/rendezvous/rendezvous-codec.js'
import { PUSH_MAX_SENDS, type WireNatClass } from '../../../../protocol/rendezvous/rendezvous-messages.js'
import {
  PUSH_RETRY_MS,
  type RelayOutput,
  RendezvousRelay,
} from '../../../../protocol/rendezvous/rendezvous-relay.js'
import { xorshiftRandom } from '../../../helpers/xorshift-random.js'

const secret = new Uint8Array(32).fill(9)
const swarmA = new Uint8Array(20).fill(0xaa)
const swarmB = new Uint8Array(20).fill(0xbb)
const idOf = (n: number) => new Uint8Array(20).fill(n)
const v4 = (n: number, port = 40000 + n): UdpAddress => ({ address: `203.0.113.${n}`, port, family: 'IPv4' })
const v6 = (n: number, port = 40000 + n): UdpAddress => ({ address: `2001:db8::${n}`, port, family: 'IPv6' })
/** Third parties: no peer ever registered from here, so nothing may ever be sent here. */
const victim = v4(250, 53)
const bytesOf = (out: RelayOutput) => out.sends.reduce((n, s) => n + s.bytes.length, 0)

function registerMsg(
  infoHash: Uint8Array,
  peerId: Uint8Array,
  token: Uint8Array,
  nat: WireNatClass = 'cone',
) {
  return encodeRendezvous({
    type: 'register',
    txid: 1,
    infoHash,
    peerId,
    token,
    lan: v6(99, 1234),
    natClass: nat,
    rttMs: 500,
  })
}

function connectMsg(
  infoHash: Uint8Array,
  peerId: Uint8Array,
  token: Uint8Array,
  target: Uint8Array,
  txid = 7,
) {
  return encodeRendezvous({
    type: 'connectRequest',
    txid,
    infoHash,
    peerId,
    token,
    targetPeerId: target,
    lan: v6(98, 4321),
    natClass: 'cone',
    rttMs: 20,
  })
}

describe('rendezvous relay abuse resistance', () => {
  it('sends no more bytes for connect-requests than they carried, retries included, over a random run', () => {
    const random = xorshiftRandom(11)
    const relay = new RendezvousRelay({ secret, requesterRate: 50, targetRate: 50 }, { random })
    // 16 peers in two swarms, half over IPv6 (the largest pushes), all with LAN endpoints.
    const peers = Array.from({ length: 16 }, (_, i) => ({
      id: idOf(i + 1),
      swarm: i % 2 ? swarmB : swarmA,
      addr: i % 4 < 2 ? v6(i + 1) : v4(i + 1),
    }))
    const tokens = peers.map((p) => relay.issueToken(p.swarm, p.id, p.addr.address, 0))
    for (const [i, p] of peers.entries()) relay.receive(registerMsg(p.swarm, p.id, tokens[i]!), p.addr, 0)
    let received = 0
    let sent = 0
    let pushes = 0
    for (let step = 0; step < 3000; step++) {
      const now = step * 37
      const i = random.int(peers.length)
      const p = peers[i]!
      const target = peers[random.int(peers.length)]!
      // Mostly valid, sometimes a forged token or a target in the other swarm.
      const token = random.int(8) === 0 ? random.bytes(new Uint8Array(20)) : tokens[i]!
      const req = connectMsg(p.swarm, p.id, token, target.id, step)
      received += req.length
      const out = relay.receive(req, p.addr, now)
      sent += bytesOf(out)
      pushes += out.sends.filter((s) => decodeRendezvous(s.bytes).type === 'connectPush').length
      // Targets acknowledge only some pushes, so retries run to their limit.
      for (const s of out.sends) {
        const m = decodeRendezvous(s.bytes)
        if (m.type === 'connectPush' && random.int(3) === 0)
          relay.receive(encodeRendezvous({ type: 'pushAck', txid: m.txid }), s.to, now)
      }
      const ticked = relay.tick(now)
      sent += bytesOf(ticked)
      pushes += ticked.sends.length
    }
    for (let t = 0; t < PUSH_MAX_SENDS + 1; t++) sent += bytesOf(relay.tick(3000 * 37 + t * PUSH_RETRY_MS))
    expect(pushes).toBeGreaterThan(1000)
    expect(sent).toBeLessThanOrEqual(received)
  })

  it('never sends more for one connect-request than it carried, even with IPv6 endpoints on both sides', () => {
    const relay = new RendezvousRelay({ secret }, { random: xorshiftRandom(12) })
    const [r, g] = [v6(1), v6(2)]
    relay.receive(registerMsg(swarmA, idOf(2), relay.issueToken(swarmA, idOf(2), g.address, 0)), g, 0)
    const req = connectMsg(swarmA, idOf(1), relay.issueToken(swarmA, idOf(1), r.address, 0), idOf(2))
    let sent = bytesOf(relay.receive(req, r, 0))
    for (let t = 1; t <= 10; t++) sent += bytesOf(relay.tick(t * PUSH_RETRY_MS))
    expect(sent).toBeGreaterThan(0)
    expect(sent).toBeLessThanOrEqual(req.length)
  })

  it('over HTTP, pushes only as many bytes as the request carried, or refuses it as too small', () => {
    const relay = new RendezvousRelay({ secret }, { random: xorshiftRandom(13) })
    const [r, g] = [v6(1), v6(2)]
    relay.receive(registerMsg(swarmA, idOf(1), relay.issueToken(swarmA, idOf(1), r.address, 0)), r, 0)
    relay.receive(registerMsg(swarmA, idOf(2), relay.issueToken(swarmA, idOf(2), g.address, 0)), g, 0)
    const ask = (receivedBytes: number, now: number) =>
      relay.connectFromHttp(
        {
          infoHash: swarmA,
          peerId: idOf(1),
          token: relay.issueToken(swarmA, idOf(1), r.address, 0),
          targetPeerId: idOf(2),
          ip: r.address,
          receivedBytes,
        },
        now,
      )
    const small = ask(200, 0)
    expect(small.result).toMatchObject({ type: 'refused', code: 'tooSmall' })
    expect(small.out.sends).toHaveLength(0)
    const ok = ask(400, 1000)
    expect(ok.result.type).toBe('relayed')
    let pushed = bytesOf(ok.out)
    for (let t = 1; t <= 10; t++) pushed += bytesOf(relay.tick(1000 + t * PUSH_RETRY_MS))
    expect(ok.out.sends.map((s) => s.to)).toEqual([g])
    expect(pushed).toBeLessThanOrEqual(400)
  })

  it('refuses spoofed registrations: a token for another address, peer or swarm, forged, truncated or expired', () => {
    const relay = new RendezvousRelay({ secret, tokenTtlMs: 60_000 }, { random: xorshiftRandom(14) })
    const g = v4(2)
    const good = relay.issueToken(swarmA, idOf(2), g.address, 0)
    const flipped = Uint8Array.from(good)
    flipped[10]! ^= 1
    const cases: [string, Uint8Array, Uint8Array, UdpAddress, number][] = [
      // [what, swarm, token, registering from, now]
      ['token issued to another address', swarmA, good, victim, 0],
      ['token issued to another peer', swarmA, relay.issueToken(swarmA, idOf(3), g.address, 0), g, 0],
      ['token issued for another swarm', swarmA, relay.issueToken(swarmB, idOf(2), g.address, 0), g, 0],
      ['token with a flipped bit', swarmA, flipped, g, 0],
      [
        'token under another secret',
        swarmA,
        issueRegisterToken(new Uint8Array(32), { infoHash: swarmA, peerId: idOf(2), ip: g.address }, 10_000),
        g,
        0,
      ],
      [
        'token with a forged expiry',
        swarmA,
        Uint8Array.from([0xff, 0xff, 0xff, 0xff, ...good.subarray(4)]),
        g,
        0,
      ],
      ['truncated token', swarmA, good.subarray(0, 12), g, 0],
      ['expired token', swarmA, good, g, 120_000],
    ]
    for (const [what, infoHash, token, from, now] of cases) {
      const out = relay.receive(registerMsg(infoHash, idOf(2), token), from, now)
      expect(
        out.sends.map((s) => decodeRendezvous(s.bytes)),
        what,
      ).toMatchObject([{ type: 'error', code: 'badToken' }])
      expect(
        out.events.filter((e) => e.type === 'registered'),
        what,
      ).toHaveLength(0)
      expect(relay.registrationCount, what).toBe(0)
    }
    // So a connect-request for that peer reaches nobody, least of all the spoofed address.
    const r = v4(1)
    const out = relay.receive(
      connectMsg(swarmA, idOf(1), relay.issueToken(swarmA, idOf(1), r.address, 0), idOf(2)),
      r,
      0,
    )
    expect(out.sends.map((s) => decodeRendezvous(s.bytes))).toMatchObject([
      { type: 'error', code: 'notRegistered' },
    ])
    expect(out.sends.every((s) => s.to === r)).toBe(true)
  })

  it('relays only within one swarm: a target registered elsewhere, or a token for another swarm, is refused', () => {
    const relay = new RendezvousRelay({ secret }, { random: xorshiftRandom(15) })
    const [r, g] = [v4(1), v4(2)]
    // G is registered in swarm B only.
    relay.receive(registerMsg(swarmB, idOf(2), relay.issueToken(swarmB, idOf(2), g.address, 0)), g, 0)
    const tokA = relay.issueToken(swarmA, idOf(1), r.address, 0)
    const outside = relay.receive(connectMsg(swarmA, idOf(1), tokA, idOf(2)), r, 0)
    expect(outside.sends.map((s) => ({ m: decodeRendezvous(s.bytes), to: s.to }))).toMatchObject([
      { m: { type: 'error', code: 'notRegistered' }, to: r },
    ])
    // R's swarm-A token does not admit it to swarm B.
    const crossed = relay.receive(connectMsg(swarmB, idOf(1), tokA, idOf(2)), r, 0)
    expect(crossed.sends.map((s) => decodeRendezvous(s.bytes))).toMatchObject([
      { type: 'error', code: 'badToken' },
    ])
    // Over HTTP likewise, and a requester that never registered its own endpoint is refused too.
    const overHttp = () =>
      relay.connectFromHttp(
        {
          infoHash: swarmA,
          peerId: idOf(1),
          token: tokA,
          targetPeerId: idOf(2),
          ip: r.address,
          receivedBytes: 1000,
        },
        0,
      )
    const http = overHttp()
    expect(http.result).toMatchObject({ type: 'refused', code: 'notRegistered' })
    relay.receive(registerMsg(swarmA, idOf(1), tokA), r, 0)
    const stillOutside = overHttp()
    expect(stillOutside.result).toMatchObject({ type: 'refused', code: 'notRegistered' })
    expect(stillOutside.out.sends).toHaveLength(0)
  })

  it('answers spoofed datagrams only at their source and never with more bytes than they carried', () => {
    const relay = new RendezvousRelay({ secret }, { random: xorshiftRandom(16) })
    const g = v4(2)
    relay.receive(registerMsg(swarmA, idOf(2), relay.issueToken(swarmA, idOf(2), g.address, 0)), g, 0)
    const random = xorshiftRandom(17)
    // Datagrams "from" the victim with stolen or forged tokens, of every kind the tracker reads.
    const stolen = relay.issueToken(swarmA, idOf(1), v4(1).address, 0)
    const spoofed = [
      connectMsg(swarmA, idOf(1), stolen, idOf(2)),
      connectMsg(swarmA, idOf(1), random.bytes(new Uint8Array(20)), idOf(2)),
      registerMsg(swarmA, idOf(1), stolen),
      encodeRendezvous({ type: 'bindingRequest', txid: 1, changePort: false }),
      encodeRendezvous({
        type: 'punchResult',
        txid: 1,
        infoHash: swarmA,
        nonce: new Uint8Array(8),
        success: true,
        elapsedMs: 1,
      }),
      encodeRendezvous({ type: 'pushAck', txid: 1 }),
    ]
    for (const d of spoofed) {
      const out = relay.receive(d, victim, 0)
      for (const s of out.sends) expect(s.to).toEqual(victim)
      expect(bytesOf(out)).toBeLessThanOrEqual(d.length)
      expect(out.events.filter((e) => e.type === 'relayed' || e.type === 'registered')).toHaveLength(0)
    }
  })
})

describe('rendezvous relay registration table', () => {
  it('when full, evicts the registration with the oldest keepalive, never a live one kept alive', () => {
    const relay = new RendezvousRelay({ secret, maxRegistrations: 3 }, { random: xorshiftRandom(18) })
    const reg = (n: number, now: number) =>
      relay.receive(
        registerMsg(swarmA, idOf(n), relay.issueToken(swarmA, idOf(n), v4(n).address, 0)),
        v4(n),
        now,
      )
    reg(1, 0)
    reg(2, 1000)
    reg(3, 2000)
    // Peer 1 keeps its registration alive; peer 2's keepalive is now the oldest.
    reg(1, 3000)
    const out = reg(4, 4000)
    expect(out.events.map((e) => e.type)).toEqual(['expired', 'registered'])
    expect(relay.registrationCount).toBe(3)
    expect(
      relay
        .registered(swarmA, 10)
        .map((p) => p.peerId[0])
        .sort(),
    ).toEqual([1, 3, 4])
  })
})
