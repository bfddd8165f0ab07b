import { describe, expect, it } from 'vitest'
import { Choker, type ChokerPeer } from '../../../../protocol/swarm/choker.js'
import { xorshiftRandom } from '../../../helpers/xorshift-random.js'

const peer = (id: string, downloadRate: number, uploadRate = 0, interested = true): ChokerPeer => ({
  id,
  interested,
  downloadRate,
  uploadRate,
})
const regular = (c: Choker, set: Set<string>) => [...set].filter((id) => id !== c.optimistic).sort()

describe('Choker', () => {
  it('unchokes the peers that upload to us fastest while leeching', () => {
    const c = new Choker({ random: xorshiftRandom(1) })
    const peers = [1, 9, 3, 7, 5, 8, 2].map((r) => peer(`p${r}`, r * 1000, (10 - r) * 1000))
    const set = c.rechoke(peers, false)
    expect(regular(c, set)).toEqual(['p5', 'p7', 'p8', 'p9'])
    expect(['p1', 'p2', 'p3']).toContain(c.optimistic)
    expect(set.size).toBe(5)
  })

  it('unchokes the peers we upload to fastest while seeding', () => {
    const c = new Choker({ random: xorshiftRandom(2), slots: 2 })
    const peers = [1, 9, 3, 7, 5].map((r) => peer(`p${r}`, r * 1000, (10 - r) * 1000))
    const set = c.rechoke(peers, true)
    expect(regular(c, set)).toEqual(['p1', 'p3'])
    expect(['p5', 'p7', 'p9']).toContain(c.optimistic)
  })

  it('never unchokes uninterested peers', () => {
    const c = new Choker({ random: xorshiftRandom(3) })
    const peers = [peer('a', 9e6, 9e6, false), peer('b', 1), peer('c', 0, 0, false), peer('d', 2)]
    for (let round = 0; round < 10; round++) {
      const set = c.rechoke(peers, round % 2 === 0)
      expect([...set].sort()).toEqual(['b', 'd'])
    }
    expect(c.rechoke([peer('a', 1, 1, false)], false).size).toBe(0)
    expect(c.optimistic).toBeUndefined()
  })

  it('unchokes everyone interested when there are fewer peers than slots', () => {
    const c = new Choker({ random: xorshiftRandom(4) })
    const set = c.rechoke([peer('a', 0), peer('b', 5), peer('c', 1)], false)
    expect([...set].sort()).toEqual(['a', 'b', 'c'])
    expect(c.optimistic).toBeUndefined()
  })

  it('keeps the optimistic unchoke for 3 rounds, outside the regular set, then rotates it', () => {
    const c = new Choker({ random: xorshiftRandom(5) })
    const peers = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((id, i) => peer(id, i < 4 ? 1000 : 0))
    const seen: string[] = []
    for (let round = 0; round < 12; round++) {
      const set = c.rechoke(peers, false)
      const o = c.optimistic!
      expect(['e', 'f', 'g', 'h']).toContain(o)
      expect(set.has(o)).toBe(true)
      expect(regular(c, set)).toEqual(['a', 'b', 'c', 'd'])
      seen.push(o)
    }
    for (let k = 0; k < 12; k += 3) {
      expect(seen[k + 1]).toBe(seen[k])
      expect(seen[k + 2]).toBe(seen[k])
      if (k > 0) expect(seen[k]).not.toBe(seen[k - 1])
    }
  })

  it('replaces the optimistic unchoke early when it leaves, loses interest or earns a regular slot', () => {
    const c = new Choker({ random: xorshiftRandom(6), slots: 1 })
    const peers = [peer('a', 100), peer('b', 0), peer('c', 0), peer('d', 0)]
    c.rechoke(peers, false)
    const first = c.optimistic!
    const left = peers.filter((p) => p.id !== first)
    c.rechoke(left, false)
    expect(c.optimistic).not.toBe(first)
    expect(['b', 'c', 'd']).toContain(c.optimistic)

    const second = c.optimistic!
    c.rechoke(
      left.map((p) => (p.id === second ? { ...p, interested: false } : p)),
      false,
    )
    expect(c.optimistic).not.toBe(second)

    const third = c.optimistic!
    const set = c.rechoke(
      left.map((p) => (p.id === third ? { ...p, downloadRate: 1000 } : p)),
      false,
    )
    expect(set.has(third)).toBe(true)
    expect(c.optimistic).not.toBe(third)
  })
})
