import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RequestBudget } from '../../../../protocol/swarm/request-budget.js'

const BLOCK = 16384

describe('RequestBudget', () => {
  it('allows what arrives within the look-ahead at the cap, then nothing until the booked bytes drain', () => {
    const b = new RequestBudget(BLOCK * 10, 500) // 10 blocks per second: 5 in 500 ms
    expect(b.blocks(0, 100, BLOCK)).toBe(5)
    for (let i = 0; i < 5; i++) b.book(BLOCK, 0)
    expect(b.blocks(0, 100, BLOCK)).toBe(0)
    // One block's time (100 ms) later, one more fits.
    expect(b.nextAt(0, BLOCK)).toBe(100)
    expect(b.blocks(100, 100, BLOCK)).toBe(1)
    expect(b.blocks(100, 0, BLOCK)).toBe(0)
  })

  it('moves a block at a time when the cap is below one block per look-ahead', () => {
    const b = new RequestBudget(1000, 500) // a block takes 16.4 s at 1 kB/s
    expect(b.blocks(0, 10, BLOCK)).toBe(1)
    b.book(BLOCK, 0)
    expect(b.blocks(1000, 10, BLOCK)).toBe(0)
    expect(b.nextAt(1000, BLOCK)).toBeCloseTo(16384)
    expect(b.blocks(16384, 10, BLOCK)).toBe(1)
  })

  it('refuses a cap of zero or less', () => {
    expect(() => new RequestBudget(0)).toThrow(RangeError)
    expect(() => new RequestBudget(-5)).toThrow(RangeError)
  })

  it('never books more than the cap allows over time, and never stalls', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1000, max: 50_000_000 }),
        fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 200 }),
        (rate, gaps) => {
          const b = new RequestBudget(rate, 500)
          let now = 0
          let booked = 0
          for (const gap of gaps) {
            // Callers come when they like, or at the time the budget names.
            now = Math.max(now + gap, gap % 3 === 0 ? b.nextAt(now, BLOCK) : 0)
            const n = b.blocks(now, 64, BLOCK)
            for (let i = 0; i < n; i++) b.book(BLOCK, now)
            booked += n * BLOCK
            // At most the cap's bytes since 0, plus the look-ahead, plus the one block always allowed.
            expect(booked).toBeLessThanOrEqual((rate * (now + 500)) / 1000 + BLOCK)
            // Waiting until nextAt always allows at least one block.
            expect(b.blocks(b.nextAt(now, BLOCK), 64, BLOCK)).toBeGreaterThanOrEqual(1)
          }
        },
      ),
    )
  })
})
