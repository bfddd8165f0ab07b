import { describe, expect, it } from 'vitest'
import { choosePunchStrategy, type PunchPlan } from '../../../../protocol/punch/punch-plan.js'
import { type PunchResult, PunchSession } from '../../../../protocol/punch/punch-session.js'
import { decodeRendezvous } from '../../../../protocol/rendezvous/rendezvous-codec.js'
import type { Punch } from '../../../../protocol/rendezvous/rendezvous-messages.js'
import { xorshiftRandom as xorshift } from '../../../helpers/xorshift-random.js'

const nonce = new Uint8Array(8).fill(4)
const idA = new Uint8Array(20).fill(0xa)
const idB = new Uint8Array(20).fill(0xb)
const pubB = { address: '203.0.113.2', port: 40002, family: 'IPv4' as const }

function plan(over: Partial<PunchPlan> = {}): PunchPlan {
  return {
    nonce,
    selfPeerId: idA,
    peerPeerId: idB,
    selfNat: 'cone',
    peerNat: 'cone',
    peerEndpoint: pubB,
    samePublicAddress: false,
    punchDelayMs: 100,
    ...over,
  }
}

const probeFromB = (ack: boolean, n = nonce): Punch => ({
  type: 'punch',
  txid: 1,
  ack,
  nonce: n,
  peerId: idB,
})

describe('punch strategy', () => {
  it('picks a strategy for every pair of classes', () => {
    expect(choosePunchStrategy('cone', 'cone')).toBe('simultaneous')
    expect(choosePunchStrategy('cone', 'public')).toBe('direct')
    expect(choosePunchStrategy('public', 'symmetric')).toBe('direct')
    expect(choosePunchStrategy('cone', 'symmetric')).toBe('birthday-ports')
    expect(choosePunchStrategy('symmetric', 'cone')).toBe('birthday-sockets')
    expect(choosePunchStrategy('symmetric', 'public')).toBe('direct')
    expect(choosePunchStrategy('firewalled', 'cone')).toBe('simultaneous')
    expect(choosePunchStrategy('symmetric', 'symmetric')).toBe('needs-relay')
    expect(choosePunchStrategy('blocked', 'cone')).toBe('needs-relay')
    expect(choosePunchStrategy('cone', 'blocked', true)).toBe('needs-relay')
  })

  it('goes LAN first behind one public address, even where the public path would need a relay', () => {
    expect(choosePunchStrategy('cone', 'cone', true)).toBe('lan-first')
    expect(choosePunchStrategy('symmetric', 'symmetric', true)).toBe('lan-first')
  })
})

describe('punch session', () => {
  it('waits for the synchronised moment, then probes with a low TTL first', () => {
    const s = new PunchSession(plan(), {}, { random: xorshift(1) })
    expect(s.start(0).sends).toHaveLength(0)
    expect(s.onTimer(99).sends).toHaveLength(0)
    const r0 = s.onTimer(100).sends
    expect(r0).toHaveLength(1)
    expect(r0[0]).toMatchObject({ to: pubB, socket: 0, ttl: 2 })
    expect(decodeRendezvous(r0[0]!.bytes)).toMatchObject({ type: 'punch', ack: false, peerId: idA })
    s.onTimer(150)
    const r2 = s.onTimer(200).sends
    expect(r2[0]?.ttl).toBeUndefined()
  })

  it('probes a public peer at full TTL from the first round: no far router to spare', () => {
    const s = new PunchSession(plan({ peerNat: 'public', punchDelayMs: 0 }), {}, { random: xorshift(1) })
    expect(s.start(0).sends).toEqual([expect.objectContaining({ to: pubB, ttl: undefined })])
  })

  it('answers a probe where it came from and settles on the first one', () => {
    const s = new PunchSession(plan(), {}, { random: xorshift(1) })
    s.start(0)
    s.onTimer(100)
    const reflexive = { address: '203.0.113.2', port: 51000, family: 'IPv4' as const }
    const fx = s.onPunch(probeFromB(false), reflexive, 0, 180)
    expect(fx.sends).toHaveLength(1)
    expect(fx.sends[0]!.to).toEqual(reflexive)
    expect(decodeRendezvous(fx.sends[0]!.bytes)).toMatchObject({ type: 'punch', ack: true })
    expect(fx.result).toEqual({ ok: true, path: reflexive, socket: 0, elapsedMs: 180 })
    expect(s.current).toBe('connected')
    // Settled, but still answers, so the far side settles too; no second result.
    const again = s.onPunch(probeFromB(false), reflexive, 0, 200)
    expect(again.sends).toHaveLength(1)
    expect(again.result).toBeUndefined()
    // Our own probes may all have been lost: keep probing the settled path until one is answered.
    const confirm = s.onTimer(230).sends
    expect(confirm).toEqual([expect.objectContaining({ to: reflexive, socket: 0 })])
    expect(decodeRendezvous(confirm[0]!.bytes)).toMatchObject({ type: 'punch', ack: false })
    expect(s.onPunch(probeFromB(true), reflexive, 0, 250)).toEqual({ sends: [] })
    expect(s.nextDeadline()).toBeUndefined()
    expect(s.onTimer(300).sends).toHaveLength(0)
  })

  it('stops probing an unanswered settled path when the punch times out', () => {
    const s = new PunchSession(plan({ punchDelayMs: 0 }), { timeoutMs: 1000 }, { random: xorshift(1) })
    s.start(0)
    s.onPunch(probeFromB(false), pubB, 0, 100)
    let probes = 0
    for (let t = 150; t <= 2000; t += 50) probes += s.onTimer(t).sends.length
    expect(probes).toBe(17) // every 50 ms from 150 until the deadline at 1000
    expect(s.nextDeadline()).toBeUndefined()
  })

  it('ignores probes of another punch or another peer', () => {
    const s = new PunchSession(plan(), {}, { random: xorshift(1) })
    s.start(0)
    expect(s.onPunch(probeFromB(false, new Uint8Array(8)), pubB, 0, 120)).toEqual({ sends: [] })
    expect(s.onPunch({ ...probeFromB(true), peerId: idA }, pubB, 0, 120)).toEqual({ sends: [] })
    expect(s.current).not.toBe('connected')
  })

  it('gives up with PUNCH_TIMEOUT', () => {
    const s = new PunchSession(plan({ punchDelayMs: 0 }), { timeoutMs: 1000 }, { random: xorshift(1) })
    s.start(0)
    let result: PunchResult | undefined
    for (let t = 50; t <= 1000 && !result; t += 50) result = s.onTimer(t).result
    expect(result).toMatchObject({ ok: false, error: { code: 'PUNCH_TIMEOUT' }, elapsedMs: 1000 })
    expect(s.nextDeadline()).toBeUndefined()
  })

  it('reports a symmetric pair as needing a relay at once', () => {
    const s = new PunchSession(
      plan({ selfNat: 'symmetric', peerNat: 'symmetric' }),
      {},
      { random: xorshift(1) },
    )
    expect(s.start(0).result).toMatchObject({ ok: false, error: { code: 'PUNCH_NEEDS_RELAY' } })
  })

  it('tries the LAN address first behind a shared public address', () => {
    const lan = { address: '198.18.5.3', port: 6881 }
    const s = new PunchSession(
      plan({ samePublicAddress: true, peerLan: lan, punchDelayMs: 0 }),
      {},
      { random: xorshift(1) },
    )
    expect(s.strategy).toBe('lan-first')
    const sends = s.start(0).sends
    expect(sends[0]!.to).toEqual(lan)
    expect(sends[0]!.ttl).toBeUndefined()
  })

  it('does not probe a LAN address when the public addresses differ', () => {
    const lan = { address: '198.18.5.3', port: 6881 }
    const s = new PunchSession(plan({ peerLan: lan, punchDelayMs: 0 }), {}, { random: xorshift(1) })
    expect(s.strategy).toBe('simultaneous')
    expect(s.start(0).sends.map((x) => x.to)).toEqual([pubB])
  })

  it('sprays distinct random ports at a symmetric peer, within its budget', () => {
    const s = new PunchSession(
      plan({ peerNat: 'symmetric', punchDelayMs: 0 }),
      { birthdayProbesPerRound: 10, birthdayMaxProbes: 55, timeoutMs: 100_000 },
      { random: xorshift(7) },
    )
    const ports: number[] = []
    let t = 0
    for (const send of s.start(t).sends) ports.push(send.to.port)
    for (t = 50; t < 2000; t += 50) for (const send of s.onTimer(t).sends) ports.push(send.to.port)
    const sprayed = ports.filter((p) => p !== pubB.port)
    expect(sprayed).toHaveLength(55)
    expect(new Set(sprayed).size).toBe(55)
    expect(sprayed.every((p) => p >= 1024 && p <= 65535)).toBe(true)
  })

  it('opens extra sockets from a symmetric NAT and refreshes them sparingly', () => {
    const s = new PunchSession(
      plan({ selfNat: 'symmetric', punchDelayMs: 0 }),
      { birthdaySockets: 8, birthdayRefreshRounds: 10 },
      { random: xorshift(3) },
    )
    expect(s.extraSocketsNeeded).toBe(8)
    const perRound = [s.start(0).sends]
    for (let t = 50; t <= 1000; t += 50) perRound.push(s.onTimer(t).sends)
    const sockets = new Set(perRound[0]!.map((x) => x.socket))
    expect(sockets.size).toBe(9)
    const total = perRound.reduce((n, r) => n + r.length, 0)
    // Rounds 0-1 and 10, 20 use all nine sockets; the other 17 rounds only the shared one.
    expect(total).toBe(4 * 9 + 17)
  })
})
