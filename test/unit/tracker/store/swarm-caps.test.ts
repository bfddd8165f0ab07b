import { describe, expect, it } from 'vitest'
import { MemorySwarmStore } from '../../../../tracker/store/memory-swarm-store.js'
import type { StoreAnnounce } from '../../../../tracker/store/swarm-store.js'
import { xorshiftRandom } from '../../../helpers/xorshift-random.js'

const hashOf = (n: number) => {
  const b = new Uint8Array(20)
  new DataView(b.buffer).setUint32(0, n)
  return b
}
const idOf = (n: number) => {
  const b = new Uint8Array(20).fill(7)
  new DataView(b.buffer).setUint32(16, n)
  return b
}
const announce = (over: Partial<StoreAnnounce>): StoreAnnounce => ({
  infoHash: hashOf(0),
  peerId: idOf(0),
  ip: '198.18.0.1',
  family: 'IPv4',
  port: 6881,
  left: 10,
  event: 'none',
  numwant: 0,
  now: 0,
  ...over,
})

/** Totals recounted from the per-swarm summaries: what incremental totals must agree with. */
function recount(store: MemorySwarmStore) {
  const s = store.summaries(1_000_000)
  const sum = (f: (x: (typeof s)[number]) => number) => s.reduce((n, x) => n + f(x), 0)
  return {
    swarms: s.length,
    peers: sum((x) => x.complete + x.incomplete),
    seeders: sum((x) => x.complete),
    peers6: sum((x) => x.peers6),
    cone: sum((x) => x.byNatClass.cone),
  }
}

describe('swarm store caps', () => {
  it('evicts the least recently announced swarm when a new one would exceed the cap', () => {
    const store = new MemorySwarmStore({ random: xorshiftRandom(1) }, { maxSwarms: 3 })
    for (let h = 0; h < 3; h++) store.announce(announce({ infoHash: hashOf(h), now: h * 1000 }))
    // Swarm 0 announces again, so swarm 1 is now the least recent.
    store.announce(announce({ infoHash: hashOf(0), peerId: idOf(9), now: 5000 }))
    store.announce(announce({ infoHash: hashOf(3), now: 6000 }))
    expect(store.size().swarms).toBe(3)
    expect(store.scrape(hashOf(1)).incomplete).toBe(0)
    expect(store.scrape(hashOf(0)).incomplete).toBe(2)
    expect(store.scrape(hashOf(2)).incomplete).toBe(1)
    expect(store.scrape(hashOf(3)).incomplete).toBe(1)
    expect(store.evictedSwarms).toBe(1)
  })

  it('keeps its totals right through evictions of swarms with seeders, IPv6 and NAT classes', () => {
    const store = new MemorySwarmStore({ random: xorshiftRandom(2) }, { maxSwarms: 5, maxPeersPerSwarm: 4 })
    const r = xorshiftRandom(3)
    let most = 0
    for (let i = 0; i < 3000; i++) {
      const v6 = r.int(3) === 0
      const a = announce({
        infoHash: hashOf(r.int(12)),
        peerId: idOf(r.int(30)),
        ip: v6 ? `2001:db8::${1 + r.int(50)}` : `198.18.0.${1 + r.int(50)}`,
        family: v6 ? 'IPv6' : 'IPv4',
        left: r.int(2) * 10,
        event: r.int(10) === 0 ? 'stopped' : 'none',
        now: i * 100,
      })
      store.announce(a)
      if (r.int(4) === 0) store.setNatClass(a.infoHash, a.peerId, 'cone')
      most = Math.max(most, store.size().swarms)
    }
    expect(most).toBe(5)
    const t = store.totals()
    expect(recount(store)).toEqual({
      swarms: t.swarms,
      peers: t.peers,
      seeders: t.seeders,
      peers6: t.peers6,
      cone: t.byNatClass.cone,
    })
    expect(store.evictedSwarms).toBeGreaterThan(0)
    expect(store.evictedPeers).toBeGreaterThan(0)
  })

  it('makes room in a full swarm by dropping long-silent peers, not the ones that keep announcing', () => {
    const store = new MemorySwarmStore({ random: xorshiftRandom(4) }, { maxPeersPerSwarm: 100 })
    for (let p = 0; p < 100; p++) store.announce(announce({ peerId: idOf(p), now: 0 }))
    // Half of them keep announcing; the other half went silent at t = 0.
    for (let p = 0; p < 50; p++) store.announce(announce({ peerId: idOf(p), now: 600_000 }))
    for (let p = 100; p < 125; p++) store.announce(announce({ peerId: idOf(p), now: 601_000 }))
    expect(store.size().peers).toBe(100)
    // A bystander that is not in the swarm sees every peer in it.
    const all = store.announce(
      announce({ peerId: idOf(999), now: 602_000, numwant: 200, event: 'stopped' }),
      { wantPeerIds: true },
    )
    const present = new Set(
      all.peers.peerIds!.map((id) => new DataView(id.buffer, id.byteOffset).getUint32(16)),
    )
    expect(present.size).toBe(100)
    const regulars = [...present].filter((p) => p < 50).length
    const newcomers = [...present].filter((p) => p >= 100).length
    expect(newcomers).toBe(25)
    expect(regulars).toBeGreaterThanOrEqual(47)
    expect(store.evictedPeers).toBe(25)
  })

  it('stays within its swarm cap and a bounded heap under a flood of a million random info hashes', async () => {
    const { setFlagsFromString } = await import('node:v8')
    const { runInNewContext } = await import('node:vm')
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const cap = 5_000
    const FLOOD = 1_000_000
    const random = xorshiftRandom(5)
    const store = new MemorySwarmStore({ random }, { maxSwarms: cap })
    const infoHash = new Uint8Array(20)
    const req = announce({ infoHash, numwant: 50 })
    gc()
    const before = process.memoryUsage()
    let most = 0
    for (let i = 0; i < FLOOD; i++) {
      random.bytes(infoHash)
      req.now = i // a millisecond apart
      store.announce(req)
      most = Math.max(most, store.size().swarms)
    }
    gc()
    const after = process.memoryUsage()
    const grown = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers)
    expect(most).toBe(cap)
    expect(store.size()).toEqual({ swarms: cap, peers: cap })
    expect(store.evictedSwarms).toBe(FLOOD - cap)
    // 5,000 one-peer swarms; uncapped, a million would hold about 700 MB (docs/benchmarks.md, Tracker flood).
    expect(grown).toBeLessThan(cap * 2_000)
  })
})
