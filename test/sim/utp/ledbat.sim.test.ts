import { describe, expect, it } from 'vitest'
import { startRenoFlow } from '../reno-flow.js'
import { receiveInto, simEndpoint, simWorld, startTransfer } from './utp-sim.js'

const MiB = 1024 * 1024
const HOME = '198.18.0.1'
const REMOTE = '198.18.0.2'
/** The home uplink: 1 MB/s with a 500 ms drop-tail buffer, deeper than LEDBAT's 100 ms target. */
const RATE = 1_000_000
const QUEUE = 500_000

function bottleneck(seed: number) {
  const world = simWorld(seed)
  const { net } = world
  net.link(HOME, REMOTE, { delayMs: 20, jitterMs: 1 })
  const server = simEndpoint(world, net.bind(REMOTE, 6881))
  const receivers = receiveInto(world, server)
  // The host exists once something binds on it; its uplink is shared by every socket it opens.
  net.host(HOME)
  net.uplink(HOME, { rateBytesPerSec: RATE, queueBytes: QUEUE })
  const home = (port: number) => simEndpoint(world, net.bind(HOME, port))
  return { world, net, server, receivers, home }
}

/** Samples `fn` every `everyMs` of virtual time between `fromMs` and `toMs`. */
function sample(
  world: ReturnType<typeof simWorld>,
  fromMs: number,
  toMs: number,
  everyMs: number,
  fn: () => number,
) {
  const values: number[] = []
  world.clock.advance(fromMs - world.clock.now())
  while (world.clock.now() < toMs) {
    values.push(fn())
    world.clock.advance(everyMs)
  }
  return values
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)]!

describe('LEDBAT over a bottleneck (simulated home uplink)', () => {
  it('holds the queuing delay near the 100 ms target instead of filling the 500 ms buffer', () => {
    const { world, net, receivers, home } = bottleneck(11)
    const t = startTransfer(world, home(6881), { address: REMOTE, port: 6881 }, receivers, 200 * MiB)
    const delays = sample(world, 10_000, 60_000, 100, () => net.queueDelayMs(HOME))
    const throughput = (t.received.at(60_000) - t.received.at(10_000)) / 50
    expect(mean(delays)).toBeGreaterThan(40)
    expect(mean(delays)).toBeLessThan(130)
    expect(percentile(delays, 0.95)).toBeLessThan(200)
    // ...and still uses the link.
    expect(throughput).toBeGreaterThan(0.85 * RATE)
    expect(net.queueStats(HOME).drops).toBe(0)
  })

  // Seeds 1-6, not picked: each run draws its own jitter, so the two flows' base-delay estimates differ
  // differently. (The split is set when slow start ends; about one seed in ten lands at 20-26%.)
  it.each([1, 2, 3, 4, 5, 6])(
    'two uTP flows started together share the bottleneck within a fifth (seed %i)',
    (seed) => {
      const { world, receivers, home } = bottleneck(seed)
      const a = startTransfer(world, home(6881), { address: REMOTE, port: 6881 }, receivers, 200 * MiB)
      const b = startTransfer(world, home(6882), { address: REMOTE, port: 6881 }, receivers, 200 * MiB)
      world.clock.advance(90_000)
      const ra = a.received.at(90_000) - a.received.at(30_000)
      const rb = b.received.at(90_000) - b.received.at(30_000)
      expect(Math.abs(ra - rb) / Math.max(ra, rb)).toBeLessThan(0.2)
      expect((ra + rb) / 60).toBeGreaterThan(0.85 * RATE)
    },
  )

  it('yields to a loss-based (Reno) flow, which takes most of the link', () => {
    const { world, net, receivers, home } = bottleneck(13)
    const utp = startTransfer(world, home(6881), { address: REMOTE, port: 6881 }, receivers, 200 * MiB)
    world.clock.advance(10_000)
    const reno = startRenoFlow({ clock: world.clock, from: net.bind(HOME, 7000), to: net.bind(REMOTE, 7000) })
    world.clock.advance(20_000)
    const renoFrom = reno.ackedBytes()
    const utpFrom = utp.received.bytes
    world.clock.advance(60_000)
    const renoBytes = reno.ackedBytes() - renoFrom
    const utpBytes = utp.received.bytes - utpFrom
    reno.stop()
    expect(renoBytes / (renoBytes + utpBytes)).toBeGreaterThan(0.75)
    // uTP backs off but keeps its connection alive.
    expect(utp.error).toBeUndefined()
    expect(utpBytes).toBeGreaterThan(0)
  })
})
