import type { Clock, TimerHandle } from '../../protocol/clock.js'

class VirtualTimer {
  constructor(
    readonly time: number,
    public fn: (() => void) | null,
  ) {}
}

/**
 * Discrete-event time for simulations: nothing happens until the test advances the clock, and then every
 * due timer fires in (time, insertion) order with `now()` set to that timer's time.
 */
export class VirtualClock implements Clock {
  private t: number
  private seq = 0
  private live = 0
  // Binary min-heap keyed by (time, seq), keys in typed arrays so sifting doesn't chase pointers (a
  // million-event simulation spends most of its time here). Cleared timers stay in it with fn = null and
  // are skipped when they reach the top.
  private times = new Float64Array(1024)
  private seqs = new Float64Array(1024)
  private readonly items: (VirtualTimer | undefined)[] = []
  private size = 0

  constructor(start = 0) {
    this.t = start
  }

  now(): number {
    return this.t
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    // `|| 0` also turns NaN into 0; a NaN time would poison the heap order.
    return this.setTimerAt(this.t + Math.max(0, ms || 0), fn)
  }

  /** Schedules `fn` at an absolute time (clamped to now); avoids float drift when the caller knows it. */
  setTimerAt(time: number, fn: () => void): TimerHandle {
    const timer = new VirtualTimer(Math.max(this.t, time || 0), fn)
    this.push(timer, this.seq++)
    this.live++
    return timer
  }

  clearTimer(handle: TimerHandle): void {
    if (handle instanceof VirtualTimer && handle.fn !== null) {
      handle.fn = null
      this.live--
    }
  }

  timeoutSignal(ms: number): AbortSignal {
    const ac = new AbortController()
    this.setTimer(ms, () => ac.abort(new DOMException('timed out', 'TimeoutError')))
    return ac.signal
  }

  /** Live (not yet fired, not cleared) timers. */
  pending(): number {
    return this.live
  }

  /** Time of the next live timer, or undefined when none is pending. */
  nextEventTime(): number | undefined {
    return this.peek()?.time
  }

  /** Fires every timer due within `ms` (including ones those timers schedule), then sets now to now + ms. */
  advance(ms: number): void {
    const target = this.t + Math.max(0, ms || 0)
    for (let next = this.peek(); next !== undefined && next.time <= target; next = this.peek()) this.fire()
    this.t = target
  }

  /**
   * Fires events one at a time until `pred()` holds (true), or the next event lies beyond `limitMs` from now
   * or none is left (now moves to the limit and the result is `pred()`).
   */
  runUntil(pred: () => boolean, limitMs: number): boolean {
    const limit = this.t + Math.max(0, limitMs || 0)
    if (pred()) return true
    for (let next = this.peek(); next !== undefined && next.time <= limit; next = this.peek()) {
      this.fire()
      if (pred()) return true
    }
    // An infinite limit with nothing left to run leaves time where the last event put it.
    if (Number.isFinite(limit)) this.t = limit
    return pred()
  }

  private peek(): VirtualTimer | undefined {
    while (this.size > 0 && this.items[0]!.fn === null) this.pop()
    return this.size > 0 ? this.items[0] : undefined
  }

  private fire(): void {
    const timer = this.pop()
    const fn = timer.fn!
    timer.fn = null
    this.live--
    this.t = timer.time
    fn()
  }

  private push(timer: VirtualTimer, seq: number): void {
    if (this.size === this.times.length) this.grow()
    const { times, seqs, items } = this
    const time = timer.time
    let i = this.size++
    while (i > 0) {
      const p = (i - 1) >> 1
      const pt = times[p]!
      if (pt < time || (pt === time && seqs[p]! < seq)) break
      times[i] = pt
      seqs[i] = seqs[p]!
      items[i] = items[p]
      i = p
    }
    times[i] = time
    seqs[i] = seq
    items[i] = timer
  }

  private pop(): VirtualTimer {
    const { times, seqs, items } = this
    const top = items[0]!
    const n = --this.size
    const time = times[n]!
    const seq = seqs[n]!
    const last = items[n]
    items[n] = undefined
    if (n === 0) return top
    let i = 0
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      const r = c + 1
      if (r < n && (times[r]! < times[c]! || (times[r] === times[c] && seqs[r]! < seqs[c]!))) c = r
      const ct = times[c]!
      if (time < ct || (time === ct && seq < seqs[c]!)) break
      times[i] = ct
      seqs[i] = seqs[c]!
      items[i] = items[c]
      i = c
    }
    times[i] = time
    seqs[i] = seq
    items[i] = last
    return top
  }

  private grow(): void {
    const times = new Float64Array(this.times.length * 2)
    times.set(this.times)
    this.times = times
    const seqs = new Float64Array(this.seqs.length * 2)
    seqs.set(this.seqs)
    this.seqs = seqs
  }
}
