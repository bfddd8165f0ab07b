import { describe, expect, it } from 'vitest'
import { RateMeter } from '../../../../client/swarm/rate-meter.js'

/** Feeds `bytesPerSecond` in 10 ms steps for `ms` of the fake clock. */
function feed(meter: RateMeter, clock: { t: number }, bytesPerSecond: number, ms: number): void {
  for (let i = 0; i < ms / 10; i++) {
    clock.t += 10
    meter.add(bytesPerSecond / 100)
  }
}

describe('RateMeter', () => {
  it('reports the rate of the first second at once, not a fraction averaged with zero', () => {
    const clock = { t: 0 }
    const meter = new RateMeter(() => clock.t)
    feed(meter, clock, 50e6, 400)
    expect(meter.perSecond).toBeGreaterThan(45e6)
    feed(meter, clock, 50e6, 1600)
    expect(meter.perSecond).toBeGreaterThan(45e6)
    expect(meter.perSecond).toBeLessThan(55e6)
  })

  it('starts from the first second that carried data, after a silence', () => {
    const clock = { t: 0 }
    const meter = new RateMeter(() => clock.t)
    clock.t += 3000
    expect(meter.perSecond).toBe(0)
    feed(meter, clock, 8e6, 2000)
    expect(meter.perSecond).toBeGreaterThan(7e6)
  })

  it('decays with its half-life once the data stops', () => {
    const clock = { t: 0 }
    const meter = new RateMeter(() => clock.t, 5000)
    feed(meter, clock, 10e6, 3000)
    clock.t += 5000
    expect(meter.perSecond).toBeGreaterThan(4e6)
    expect(meter.perSecond).toBeLessThan(6e6)
    expect(meter.total).toBe(30e6)
  })
})
