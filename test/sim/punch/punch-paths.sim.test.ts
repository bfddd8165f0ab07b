import { describe, expect, it } from 'vitest'
import { addressKey } from '../../../protocol/datagram-socket.js'
import type { MemorySocket } from '../memory-network.js'
import { attempt, connectPeers } from './punch-attempt.js'
import { PunchSim } from './punch-sim.js'
import { exchangeDone, received, remoteKey, startExchange } from './punch-utp.js'

const KiB = 1024

describe('two peers behind one NAT that does not hairpin', () => {
  it('connect over their LAN addresses, and uTP runs there', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const sim = await PunchSim.create(seed, { rttMs: 60, jitterMs: 6, loss: 0.01 })
      const a = sim.addPeer('cone')
      const b = sim.addPeer('cone', { behind: a.router! })
      sim.world.net.link(a.host.ip, b.host.ip, { delayMs: 0.5 })
      await sim.join(b)
      await sim.join(a)
      // Both register the same public address; the NAT gave the second socket another port.
      const registered = sim.service.relay.registered(sim.infoHash, 10).map((p) => p.endpoint)
      expect(new Set(registered.map((e) => e.address))).toEqual(new Set([a.router!.publicIp]))
      expect(new Set(registered.map((e) => e.port)).size).toBe(2)
      const r = await connectPeers(sim, a, b)
      expect(r.ok, `seed ${seed}`).toBe(true)
      expect(r.path!.address).toEqual(b.socket.address())
      expect(b.punched[0]!.path.address).toEqual(a.socket.address())
      const ex = startExchange(sim, a.socket, r.path!.address, b.socket, 64 * KiB)
      expect(await sim.runUntil(() => exchangeDone(ex), 30_000)).toBe(true)
      expect(received(ex.atTarget)).toBe(ex.sentByRequester)
      expect(received(ex.atRequester)).toBe(ex.sentByTarget)
      expect(remoteKey(ex.atTarget)).toBe(addressKey(a.socket.address()))
      await sim.stop([a, b])
    }
  })
})

describe('uTP over the punched path', () => {
  it.each([
    ['cone', 'cone'],
    ['cone', 'symmetric'],
    ['symmetric', 'cone'],
    ['firewalled', 'public'],
  ] as const)(
    '%s -> %s: 256 KiB each way, byte-exact, on the sockets the punch returned',
    async (from, to) => {
      for (const seed of [11, 12, 13]) {
        const a = await attempt(seed, from, to, { rttMs: 80, jitterMs: 8, loss: 0.01 })
        expect(a.ok, `seed ${seed}`).toBe(true)
        const targetPath = a.target.punched[0]!.path
        const ex = startExchange(
          a.sim,
          a.path!.socket as MemorySocket,
          a.path!.address,
          targetPath.socket as MemorySocket,
          256 * KiB,
        )
        expect(await a.sim.runUntil(() => exchangeDone(ex), 60_000), `seed ${seed}`).toBe(true)
        expect(received(ex.atTarget)).toBe(ex.sentByRequester)
        expect(received(ex.atRequester)).toBe(ex.sentByTarget)
        // The connection came in exactly where the target punched to: the hole, not some other route.
        expect(remoteKey(ex.atTarget)).toBe(addressKey(targetPath.address))
        await a.sim.stop([a.requester, a.target])
      }
    },
  )
})

describe('a router that loses its mappings mid-session (conntrack -F)', () => {
  it('keeping ports (Linux MASQUERADE): keepalives go on, no mapping change, uTP recovers', async () => {
    const a = await attempt(21, 'cone', 'cone', { rttMs: 50, jitterMs: 5 })
    expect(a.ok).toBe(true)
    const changed: unknown[] = []
    a.target.client.on('mappingChanged', (e) => changed.push(e))
    const before = a.target.client.observed
    const ex = startExchange(
      a.sim,
      a.requester.socket,
      a.path!.address,
      a.target.punched[0]!.path.socket as MemorySocket,
      4 * 1024 * KiB,
    )
    await a.sim.runUntil(() => ex.atTarget.bytes > 256 * KiB, 30_000)
    const router = a.target.router!
    const dropped = router.stats().droppedInbound
    router.flush()
    expect(await a.sim.runUntil(() => exchangeDone(ex), 60_000)).toBe(true)
    // The requester's packets were dropped until the target's own sent packets re-opened the mapping.
    expect(router.stats().droppedInbound).toBeGreaterThan(dropped)
    expect(received(ex.atTarget)).toBe(ex.sentByRequester)
    expect(received(ex.atRequester)).toBe(ex.sentByTarget)
    // One keepalive later the tracker still has the same endpoint.
    await a.sim.runUntil(() => false, 16_000)
    expect(changed).toEqual([])
    expect(a.target.client.observed).toEqual(before)
    expect(a.target.failures).toEqual([])
    await a.sim.stop([a.requester, a.target])
  })

  it('allocating new ports (sequential): the next keepalive reports the new endpoint, and a new punch reaches it', async () => {
    const sim = await PunchSim.create(22, { rttMs: 50, jitterMs: 5 })
    // A router that hands out ports in sequence instead of keeping the inside one (many CGNs do).
    const target = sim.addPeer('cone', { nat: { portAllocation: 'sequential' } })
    const requester = sim.addPeer('cone')
    await sim.join(target)
    await sim.join(requester)
    const first = await connectPeers(sim, requester, target)
    expect(first.ok).toBe(true)
    const old = target.client.observed!
    const changed: { address: string; port: number }[] = []
    target.client.on('mappingChanged', (e) => changed.push(e))
    const flushedAt = sim.clock.now()
    target.router!.flush()
    // 1. The next keepalive (at most KEEPALIVE_INTERVAL_MS later) goes out through a new mapping.
    expect(await sim.runUntil(() => changed.length > 0, 16_000)).toBe(true)
    expect(sim.clock.now() - flushedAt).toBeLessThanOrEqual(15_000 + 100)
    expect(changed[0]!.address).toBe(old.address)
    expect(changed[0]!.port).not.toBe(old.port)
    expect(target.client.observed).toEqual(changed[0])
    // 2. The tracker holds the new endpoint, so the next connect-request punches to it.
    const reg = sim.service.relay.registered(sim.infoHash, 10).find((p) => p.peerId[0] === target.peerId[0])
    expect(reg?.endpoint.port).toBe(changed[0]!.port)
    const second = await connectPeers(sim, requester, target)
    expect(second.ok).toBe(true)
    expect(second.path!.address.port).toBe(changed[0]!.port)
    await sim.stop([requester, target])
  })
})
