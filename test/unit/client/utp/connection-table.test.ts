import { describe, expect, it } from 'vitest'
import { ConnectionTable } from '../../../../client/utp/connection-table.js'
import { ByteSlab } from '../../../../protocol/utp/byte-slab.js'

describe('ConnectionTable', () => {
  const a = { address: '198.18.0.1', port: 6881 }
  const b = { address: '198.18.0.2', port: 6881 }

  it('keeps peers that picked the same connection id apart, matched on address and port', () => {
    const t = new ConnectionTable<string>()
    t.set(a, 7, 'a7')
    t.set(b, 7, 'b7')
    t.set({ ...a, port: 6882 }, 7, 'a7-other-port')
    expect(t.get({ address: '198.18.0.1', port: 6881 }, 7)).toBe('a7')
    expect(t.get(b, 7)).toBe('b7')
    expect(t.get({ ...a, port: 6882 }, 7)).toBe('a7-other-port')
    expect(t.get(a, 8)).toBeUndefined()
    expect(t.size).toBe(3)
    expect([...t.values()].sort()).toEqual(['a7', 'a7-other-port', 'b7'])
  })

  it('deletes a key only while it still holds the value being retired', () => {
    const t = new ConnectionTable<string>()
    t.set(a, 1, 'old')
    t.set(a, 1, 'new')
    expect(t.size).toBe(1)
    t.deleteIf(a, 1, 'old')
    expect(t.get(a, 1)).toBe('new')
    t.deleteIf(a, 1, 'new')
    expect(t.has(a, 1)).toBe(false)
    expect(t.size).toBe(0)
  })
})

describe('ByteSlab', () => {
  it('hands out zeroed views that never overlap, across slabs', () => {
    const slab = new ByteSlab(4096)
    const views = Array.from({ length: 10 }, (_, i) => {
      const v = slab.take(1420)
      expect(v.every((x) => x === 0)).toBe(true)
      v.fill(i + 1)
      return v
    })
    for (const [i, v] of views.entries()) expect(v.every((x) => x === i + 1)).toBe(true)
    const big = slab.take(10_000)
    expect(big.length).toBe(10_000)
    expect(big.buffer.byteLength).toBe(10_000)
  })
})
