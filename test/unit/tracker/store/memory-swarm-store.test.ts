import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MemorySwarmStore } from '../../../../tracker/store/memory-swarm-store.js'
import type { StoreAnnounce } from '../../../../tracker/store/swarm-store.js'
import { storeAnnounce } from '../../../helpers/store-announce.js'
import { xorshiftRandom } from '../../../helpers/xorshift-random.js'

const hash = (n: number) => new Uint8Array(20).fill(n)
const pid = (n: number) => {
  const b = new Uint8Array(20)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

const ann = (over: Partial<StoreAnnounce>): StoreAnnounce => storeAnnounce(over, pid(1))

const compactPorts = (b: Uint8Array) => {
  const out: number[] = []
  for (let i = 0; i < b.length; i += 6) out.push((b[i + 4]! << 8) | b[i + 5]!)
  return out
}

describe('memory swarm store', () => {
  it('counts seeders and leechers and never returns the announcer', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(1) })
    s.announce(ann({ peerId: pid(1), port: 1001, left: 0, event: 'started' }))
    s.announce(ann({ peerId: pid(2), port: 1002, event: 'started' }))
    const r = s.announce(ann({ peerId: pid(3), port: 1003, event: 'started' }))
    expect(r).toMatchObject({ complete: 1, incomplete: 2 })
    expect(compactPorts(r.peers.compact4).sort()).toEqual([1001, 1002])
    expect(s.size()).toEqual({ swarms: 1, peers: 3 })
  })

  it('keeps one record per peer id, following a changed address', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(1) })
    s.announce(ann({ peerId: pid(1), port: 1001 }))
    s.announce(ann({ peerId: pid(1), port: 2002, ip: '198.18.0.9' }))
    const r = s.announce(ann({ peerId: pid(2) }))
    expect(Array.from(r.peers.compact4)).toEqual([198, 18, 0, 9, 2002 >> 8, 2002 & 0xff])
    expect(s.size().peers).toBe(2)
  })

  it('removes a stopped peer and drops an empty swarm', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(1) })
    s.announce(ann({ peerId: pid(1), left: 0 }))
    expect(s.announce(ann({ peerId: pid(1), event: 'stopped' })).complete).toBe(0)
    expect(s.size()).toEqual({ swarms: 0, peers: 0 })
  })

  it('counts a completion once per peer', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(1) })
    s.announce(ann({ peerId: pid(1), event: 'started' }))
    s.announce(ann({ peerId: pid(1), left: 0, event: 'completed' }))
    s.announce(ann({ peerId: pid(1), left: 0, event: 'completed' }))
    expect(s.scrape(hash(1))).toEqual({ complete: 1, incomplete: 0, downloaded: 1 })
  })

  it('puts IPv6 peers in the 18-byte list', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(1) })
    s.announce(ann({ peerId: pid(1), ip: '2001:db8::1', family: 'IPv6', port: 7000 }))
    s.announce(ann({ peerId: pid(2), ip: '198.18.0.2', port: 7001 }))
    const r = s.announce(ann({ peerId: pid(3), numwant: 10 }))
    expect(r.peers.compact6).toHaveLength(18)
    expect(r.peers.compact4).toHaveLength(6)
    expect(s.summaries(10)[0]).toMatchObject({ peers4: 2, peers6: 1 })
  })

  it('caps the sample at numwant and samples widely over many announces', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(7) })
    for (let i = 0; i < 500; i++) s.announce(ann({ peerId: pid(i), port: 1000 + i }))
    const seen = new Set<number>()
    for (let k = 0; k < 100; k++) {
      const r = s.announce(ann({ peerId: pid(9999), numwant: 50 }))
      expect(r.peers.compact4.length).toBe(300)
      for (const p of compactPorts(r.peers.compact4)) seen.add(p)
    }
    expect(seen.size).toBeGreaterThan(450)
  })

  it('expires peers not seen for maxAge, in bounded slices', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(1) })
    for (let i = 0; i < 100; i++) s.announce(ann({ infoHash: hash(i % 10), peerId: pid(i), now: 0 }))
    for (let i = 0; i < 10; i++) s.announce(ann({ infoHash: hash(i), peerId: pid(1000 + i), now: 100_000 }))
    let dropped = 0
    for (let k = 0; k < 50 && s.size().peers > 10; k++) {
      const d = s.expire(200_000, 150_000, 7)
      expect(d).toBeLessThanOrEqual(7)
      dropped += d
    }
    expect(dropped).toBe(100)
    expect(s.size()).toEqual({ swarms: 10, peers: 10 })
  })

  it('stays consistent with a model under random announces, stops and expiry', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            peer: fc.integer({ min: 0, max: 40 }),
            swarm: fc.integer({ min: 0, max: 3 }),
            stop: fc.boolean(),
            seed: fc.boolean(),
          }),
          { maxLength: 300 },
        ),
        (ops) => {
          const s = new MemorySwarmStore({ random: xorshiftRandom(3) })
          const model = new Map<string, boolean>()
          for (const op of ops) {
            const key = `${op.swarm}:${op.peer}`
            s.announce(
              ann({
                infoHash: hash(op.swarm),
                peerId: pid(op.peer),
                left: op.seed ? 0 : 5,
                event: op.stop ? 'stopped' : 'none',
              }),
            )
            if (op.stop) model.delete(key)
            else model.set(key, op.seed)
          }
          expect(s.size().peers).toBe(model.size)
          expect(s.totals()).toMatchObject({
            peers: model.size,
            seeders: [...model.values()].filter(Boolean).length,
            byNatClass: { unknown: model.size },
          })
          for (let sw = 0; sw < 4; sw++) {
            const entries = [...model].filter(([k]) => k.startsWith(`${sw}:`))
            expect(s.scrape(hash(sw))).toMatchObject({
              complete: entries.filter(([, seed]) => seed).length,
              incomplete: entries.filter(([, seed]) => !seed).length,
            })
            const r = s.announce(
              ann({ infoHash: hash(sw), peerId: pid(999), numwant: 100, event: 'stopped' }),
            )
            expect(r.peers.compact4.length / 6).toBe(entries.length)
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('memory swarm store size', () => {
  it('holds 200,000 peers over 1,000 swarms in at most 64 bytes of records and index per peer', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(9) })
    const ih = new Uint8Array(20)
    const id = new Uint8Array(20)
    const view = new DataView(id.buffer)
    for (let p = 0; p < 200_000; p++) {
      ih[0] = p % 250
      ih[1] = Math.floor((p % 1000) / 250)
      view.setUint32(0, p)
      s.announce(ann({ infoHash: ih, peerId: id, ip: `198.18.${(p >> 8) & 255}.${p & 255}`, numwant: 0 }))
    }
    expect(s.size()).toEqual({ swarms: 1000, peers: 200_000 })
    expect(s.footprint() / 200_000).toBeLessThanOrEqual(64)
  })
})

describe('memory swarm store summaries', () => {
  it('lists the largest swarms first, at most `limit` of them', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(4) })
    // Swarm k gets (k * 7) % 23 + 1 peers, so sizes arrive in no particular order.
    for (let k = 0; k < 23; k++) {
      for (let p = 0; p < ((k * 7) % 23) + 1; p++)
        s.announce(ann({ infoHash: hash(k + 1), peerId: pid(p), numwant: 0 }))
    }
    const sizes = s.summaries(5).map((w) => w.complete + w.incomplete)
    expect(sizes).toEqual([23, 22, 21, 20, 19])
    expect(s.summaries(100)).toHaveLength(23)
  })
})
