import { afterAll, describe, expect, it } from 'vitest'
import { PUNCH_DEFAULTS } from '../../../protocol/punch/punch-plan.js'
import { type Attempt, attempt, seeds } from './punch-attempt.js'
import { recordFigures, reportFigures } from './punch-figures.js'
import { type PeerKind, PunchSim, peakProbes, type SimPeer } from './punch-sim.js'

/** Jitter reorders neighbouring packets; 1% of every packet (tracker messages too) is lost. */
const LOSSY = { rttMs: 50, jitterMs: 10, loss: 0.01 }

afterAll(() => reportFigures('pair classes (50 ms RTT, 10 ms jitter, 1% loss)'))

/** The public address a peer's punched path must lead to: its router's, or its own. */
const publicIp = (p: SimPeer) => p.router?.publicIp ?? p.host.ip

function describeFailure(a: Attempt, seed: number): string {
  return `seed ${seed}: ${a.requester.kind} -> ${a.target.kind}: ${String((a.error as Error)?.message ?? 'target did not punch')}`
}

describe('NAT classification', () => {
  const expected: [PeerKind, string][] = [
    ['public', 'public'],
    ['cone', 'cone'],
    ['symmetric', 'symmetric'],
    ['firewalled', 'firewalled'],
    ['blocked', 'blocked'],
  ]
  it.each(expected)('classifies a %s peer as %s, for every seed', async (kind, cls) => {
    for (const seed of seeds(100, 5)) {
      const sim = await PunchSim.create(seed, { jitterMs: 10 })
      const peer = sim.addPeer(kind)
      expect(await sim.until(peer.client.classify(), 30_000), `seed ${seed}`).toBe(cls)
      await sim.stop([peer])
    }
  })

  it('classifies a second host behind the same cone NAT as cone', async () => {
    const sim = await PunchSim.create(1)
    const a = sim.addPeer('cone')
    const b = sim.addPeer('cone', { behind: a.router! })
    expect(await sim.until(b.client.classify(), 30_000)).toBe('cone')
    await sim.stop([a, b])
  })
})

describe('pairs with a public, cone or firewalled peer punch every time', () => {
  const easy: PeerKind[] = ['public', 'cone', 'firewalled']
  const pairs: [PeerKind, PeerKind][] = easy.flatMap((a) => easy.map((b): [PeerKind, PeerKind] => [a, b]))
  pairs.push(['public', 'symmetric'], ['symmetric', 'public'])
  it.each(pairs)('%s -> %s: 20 seeds with jitter and loss', async (from, to) => {
    for (const seed of seeds(1000, 20)) {
      const a = await attempt(seed, from, to, LOSSY)
      expect(a.ok, describeFailure(a, seed)).toBe(true)
      expect(a.path!.address.address).toBe(publicIp(a.target))
      expect(a.target.punched[0]!.path.address.address).toBe(publicIp(a.requester))
      recordFigures(`${from} -> ${to}`, a)
      await a.sim.stop([a.requester, a.target])
    }
  })
})

describe('birthday punching between a symmetric NAT and a cone or firewall', () => {
  const pairs: [PeerKind, PeerKind][] = [
    ['cone', 'symmetric'],
    ['symmetric', 'cone'],
    ['firewalled', 'symmetric'],
    ['symmetric', 'firewalled'],
  ]
  it.each(pairs)(
    '%s -> %s: 38 or more of 40 seeds within 10 s, within the probe budget',
    async (from, to) => {
      let ok = 0
      const failures: string[] = []
      for (const seed of seeds(2000, 40)) {
        const a = await attempt(seed, from, to, LOSSY)
        recordFigures(`${from} -> ${to}`, a)
        if (a.ok && a.punchMs! <= 10_000) ok++
        else failures.push(describeFailure(a, seed))
        const sym = a.requester.kind === 'symmetric' ? a.requester : a.target
        const other = sym === a.requester ? a.target : a.requester
        // The symmetric side opens its birthday sockets, no more, and keeps only the one that won.
        expect(sym.sockets.length).toBeLessThanOrEqual(1 + PUNCH_DEFAULTS.birthdaySockets)
        const winner = sym === a.requester ? a.path?.socket : sym.punched[0]?.path.socket
        expect(sym.sockets.slice(1).filter((s) => !s.closed && s !== winner)).toHaveLength(0)
        // The cone side sprays at most its port budget, plus one probe per round to the known endpoint.
        const rounds = PUNCH_DEFAULTS.timeoutMs / PUNCH_DEFAULTS.probeIntervalMs + 1
        expect(other.probes.length).toBeLessThanOrEqual(PUNCH_DEFAULTS.birthdayMaxProbes + 2 * rounds)
        // Rates: one socket's worth of spray per round at most, and the birthday sockets refreshed sparingly.
        expect(peakProbes(other)).toBeLessThanOrEqual(
          (1000 / PUNCH_DEFAULTS.probeIntervalMs) * (PUNCH_DEFAULTS.birthdayProbesPerRound + 2),
        )
        expect(peakProbes(sym)).toBeLessThanOrEqual(3 * (PUNCH_DEFAULTS.birthdaySockets + 1) + 20)
        await a.sim.stop([a.requester, a.target])
      }
      expect(ok, failures.join('\n')).toBeGreaterThanOrEqual(38)
    },
  )
})

describe('pairs that need a relay are told so, quickly, without probing', () => {
  it('symmetric -> symmetric: the tracker answers needsRelay within a round trip; no punch starts', async () => {
    for (const seed of seeds(3000, 5)) {
      const a = await attempt(seed, 'symmetric', 'symmetric', { rttMs: 50, jitterMs: 10 })
      expect(a.error).toMatchObject({ code: 'PUNCH_NEEDS_RELAY' })
      expect(a.requesterDoneAt - a.startedAt).toBeLessThanOrEqual(50 + 2 * 10)
      expect(a.target.pushAt).toBeUndefined()
      for (const p of [a.requester, a.target]) {
        expect(p.probes).toHaveLength(0)
        expect(p.sockets).toHaveLength(1)
      }
      await a.sim.stop([a.requester, a.target])
    }
  })

  it('a UDP-blocked peer: its own connect fails at once with PUNCH_NEEDS_RELAY, sending nothing', async () => {
    for (const to of ['cone', 'public'] as const) {
      const a = await attempt(3100, 'blocked', to)
      expect(a.requester.client.natClass).toBe('blocked')
      expect(a.error).toMatchObject({ code: 'PUNCH_NEEDS_RELAY' })
      expect(a.requesterDoneAt).toBe(a.startedAt)
      expect(a.requester.probes).toHaveLength(0)
      expect(a.target.pushAt).toBeUndefined()
      await a.sim.stop([a.requester, a.target])
    }
  })

  it('a UDP-blocked peer cannot register, so a connect to it fails within a round trip', async () => {
    const a = await attempt(3200, 'cone', 'blocked', { rttMs: 50, jitterMs: 10 })
    expect(a.target.failures).toEqual([expect.objectContaining({ code: 'PUNCH_TIMEOUT' })])
    expect(a.error).toMatchObject({ code: 'PUNCH_TARGET_UNKNOWN' })
    expect(a.requesterDoneAt - a.startedAt).toBeLessThanOrEqual(50 + 2 * 10)
    expect(a.requester.probes).toHaveLength(0)
    await a.sim.stop([a.requester, a.target])
  })
})

describe('reproducibility', () => {
  const trace = (a: Attempt) => ({
    ok: a.ok,
    punchMs: a.punchMs,
    now: a.sim.clock.now(),
    net: a.sim.world.net.stats(),
    probes: [a.requester.probes, a.target.probes],
  })
  it('the same seed gives the same probe trace and timings; another seed does not', async () => {
    const first = trace(await attempt(77, 'cone', 'symmetric', LOSSY))
    const again = trace(await attempt(77, 'cone', 'symmetric', LOSSY))
    const other = trace(await attempt(78, 'cone', 'symmetric', LOSSY))
    expect(first.probes[0]!.length).toBeGreaterThan(10)
    expect(again).toEqual(first)
    expect(other.probes).not.toEqual(first.probes)
  })
})
