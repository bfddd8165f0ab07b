import { afterAll, describe, expect, it } from 'vitest'
import { attempt, percentiles, seeds } from './punch-attempt.js'
import { recordFigures, reportFigures } from './punch-figures.js'
import type { PeerKind } from './punch-sim.js'

afterAll(() => reportFigures('timing and loss'))

describe('punch time between two cone NATs', () => {
  it.each([50, 300])('median under 2 round trips after the push arrives, at %s ms RTT', async (rttMs) => {
    const rtts: number[] = []
    for (const seed of seeds(4000 + rttMs, 25)) {
      // Jitter a tenth of the RTT: packets of one round overtake each other now and then.
      const a = await attempt(seed, 'cone', 'cone', { rttMs, jitterMs: rttMs / 10 })
      expect(a.ok, `seed ${seed}`).toBe(true)
      recordFigures(`cone -> cone, ${rttMs} ms RTT`, a)
      rtts.push(a.punchMs! / rttMs)
      await a.sim.stop([a.requester, a.target])
    }
    const { median, p95 } = percentiles(rtts)
    expect(median).toBeLessThan(2)
    // Even the slow tail stays within a few probe rounds.
    expect(p95).toBeLessThan(2 + (3 * 50) / rttMs)
  })
})

describe('5% loss with reordering and duplication', () => {
  const pairs: [PeerKind, PeerKind][] = [
    ['cone', 'cone'],
    ['cone', 'public'],
    ['public', 'cone'],
    ['cone', 'firewalled'],
    ['firewalled', 'cone'],
  ]
  it.each(pairs)('%s -> %s still punches every time (20 seeds)', async (from, to) => {
    for (const seed of seeds(5000, 20)) {
      const a = await attempt(seed, from, to, {
        rttMs: 80,
        jitterMs: 8,
        loss: 0.05,
        reorder: 0.05,
        duplicate: 0.02,
      })
      expect(a.ok, `seed ${seed}: ${String((a.error as Error)?.message)}`).toBe(true)
      recordFigures(`${from} -> ${to}, 5% loss`, a)
      await a.sim.stop([a.requester, a.target])
    }
  })
})
