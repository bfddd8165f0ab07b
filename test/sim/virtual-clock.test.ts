import { describe, expect, it } from 'vitest'
import { xorshiftRandom } from '../helpers/xorshift-random.js'
import { VirtualClock } from './virtual-clock.js'

describe('VirtualClock', () => {
  it('starts where told and only moves when advanced', () => {
    const clock = new VirtualClock(1000)
    expect(clock.now()).toBe(1000)
    let fired = false
    clock.setTimer(10, () => {
      fired = true
    })
    expect(fired).toBe(false)
    clock.advance(9)
    expect(fired).toBe(false)
    expect(clock.now()).toBe(1009)
    clock.advance(1)
    expect(fired).toBe(true)
    expect(clock.now()).toBe(1010)
  })

  it('fires in time order, equal times in insertion order, with now set to each timer', () => {
    const clock = new VirtualClock()
    const log: string[] = []
    const at = (ms: number, name: string) => clock.setTimer(ms, () => log.push(`${name}@${clock.now()}`))
    at(30, 'c')
    at(10, 'a1')
    at(20, 'b')
    at(10, 'a2')
    at(-5, 'zero')
    at(Number.NaN, 'nan')
    clock.advance(100)
    expect(log).toEqual(['zero@0', 'nan@0', 'a1@10', 'a2@10', 'b@20', 'c@30'])
    expect(clock.now()).toBe(100)
  })

  it('runs timers scheduled by timers within the same advance', () => {
    const clock = new VirtualClock()
    const log: number[] = []
    clock.setTimer(5, () => {
      log.push(clock.now())
      clock.setTimer(5, () => log.push(clock.now()))
      clock.setTimer(0, () => log.push(clock.now()))
    })
    clock.advance(10)
    expect(log).toEqual([5, 5, 10])
  })

  it('clears timers and counts only live ones as pending', () => {
    const clock = new VirtualClock()
    let fired = 0
    const h = clock.setTimer(5, () => fired++)
    clock.setTimer(6, () => fired++)
    expect(clock.pending()).toBe(2)
    clock.clearTimer(h)
    clock.clearTimer(h)
    expect(clock.pending()).toBe(1)
    clock.advance(10)
    expect(fired).toBe(1)
    expect(clock.pending()).toBe(0)
    clock.clearTimer(h)
    expect(clock.pending()).toBe(0)
  })

  it('aborts timeoutSignal with a TimeoutError at virtual time', () => {
    const clock = new VirtualClock()
    const signal = clock.timeoutSignal(50)
    clock.advance(49)
    expect(signal.aborted).toBe(false)
    clock.advance(1)
    expect(signal.aborted).toBe(true)
    expect(signal.reason).toBeInstanceOf(DOMException)
    expect((signal.reason as DOMException).name).toBe('TimeoutError')
  })

  it('runUntil stops as soon as the predicate holds', () => {
    const clock = new VirtualClock()
    let n = 0
    for (let i = 1; i <= 10; i++) clock.setTimer(i * 10, () => n++)
    expect(clock.runUntil(() => n >= 3, 1000)).toBe(true)
    expect(clock.now()).toBe(30)
    expect(clock.pending()).toBe(7)
  })

  it('runUntil gives up at the limit, leaving later events pending', () => {
    const clock = new VirtualClock()
    let n = 0
    clock.setTimer(10, () => n++)
    clock.setTimer(500, () => n++)
    expect(clock.runUntil(() => n >= 2, 100)).toBe(false)
    expect(clock.now()).toBe(100)
    expect(clock.pending()).toBe(1)
    expect(clock.runUntil(() => false, 1000)).toBe(false)
    expect(clock.now()).toBe(1100)
    expect(n).toBe(2)
  })

  it('runUntil returns at once when the predicate already holds', () => {
    const clock = new VirtualClock()
    clock.setTimer(1, () => {})
    expect(clock.runUntil(() => true, 100)).toBe(true)
    expect(clock.now()).toBe(0)
    expect(clock.pending()).toBe(1)
  })

  it('keeps (time, insertion) order across 200,000 outstanding timers with cancellations', () => {
    const clock = new VirtualClock()
    const random = xorshiftRandom(7)
    let last = -1
    let lastSeq = -1
    let fired = 0
    let outOfOrder = 0
    for (let i = 0; i < 200_000; i++) {
      const t = random.int(10_000)
      const seq = i
      const h = clock.setTimer(t, () => {
        const now = clock.now()
        if (now !== t || now < last || (now === last && seq < lastSeq)) outOfOrder++
        last = now
        lastSeq = seq
        fired++
      })
      if (i % 10 === 0) clock.clearTimer(h)
    }
    clock.advance(10_000)
    expect(outOfOrder).toBe(0)
    expect(fired).toBe(180_000)
    expect(clock.pending()).toBe(0)
  })

  it('runs a million events from self-rescheduling actors quickly', () => {
    const clock = new VirtualClock()
    const random = xorshiftRandom(8)
    let fired = 0
    let backwards = 0
    let last = 0
    const tick = () => {
      if (clock.now() < last) backwards++
      last = clock.now()
      if (++fired <= 1_000_000 - 2000) clock.setTimer(random.next() * 50, tick)
    }
    for (let i = 0; i < 2000; i++) clock.setTimer(random.next() * 50, tick)
    const started = performance.now()
    expect(clock.runUntil(() => clock.pending() === 0, 1e9)).toBe(true)
    // Generous for a loaded CI machine; a non-heap queue would take minutes.
    expect(performance.now() - started).toBeLessThan(4000)
    expect(fired).toBe(1_000_000)
    expect(backwards).toBe(0)
  })
})
