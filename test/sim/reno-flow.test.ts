import { describe, expect, it } from 'vitest'
import { xorshiftRandom } from '../helpers/xorshift-random.js'
import { MemoryNetwork } from './memory-network.js'
import { startRenoFlow } from './reno-flow.js'
import { VirtualClock } from './virtual-clock.js'

function bottleneck(seed: number, queueBytes: number) {
  const clock = new VirtualClock()
  const net = new MemoryNetwork({ clock, random: xorshiftRandom(seed) })
  const from = net.bind('1.0.0.1', 6881)
  const to = net.bind('1.0.0.2', 6881)
  net.link('1.0.0.1', '1.0.0.2', { delayMs: 25, jitterMs: 1 })
  net.uplink('1.0.0.1', { rateBytesPerSec: 1_000_000, queueBytes })
  return { clock, net, from, to }
}

describe('startRenoFlow', () => {
  it('fills a 1 MB/s drop-tail bottleneck to over 80 % over 20 s', () => {
    const { clock, net, from, to } = bottleneck(1, 100_000)
    const flow = startRenoFlow({ clock, from, to })
    clock.advance(20_000)
    const wireBytes = net.queueStats('1.0.0.1').sentBytes
    expect(wireBytes / 20 / 1_000_000).toBeGreaterThan(0.8)
    expect(flow.ackedBytes() / 20 / 1_000_000).toBeGreaterThan(0.8)
    // AIMD at work: it overran the queue and backed off rather than sitting below the rate.
    expect(net.queueStats('1.0.0.1').drops).toBeGreaterThan(0)
    flow.stop()
    clock.advance(1000)
    expect(clock.pending()).toBe(0)
  })

  it('recovers from random loss and from a queue smaller than the bandwidth-delay product', () => {
    const { clock, net, from, to } = bottleneck(2, 20_000)
    net.link('1.0.0.1', '1.0.0.2', { delayMs: 25, loss: 0.001 })
    const flow = startRenoFlow({ clock, from, to, segmentBytes: 1000 })
    clock.advance(20_000)
    expect(flow.ackedBytes()).toBeGreaterThan(0.5 * 20 * 1_000_000)
    flow.stop()
  })

  it('sends only datagrams that start with 0xff and ignores foreign traffic', () => {
    const { clock, from, to } = bottleneck(3, 50_000)
    const firstBytes = new Set<number>()
    to.on('message', (bytes) => firstBytes.add(bytes[0]!))
    from.on('message', (bytes) => firstBytes.add(bytes[0]!))
    const flow = startRenoFlow({ clock, from, to })
    to.send(new Uint8Array([0x01, 0x02, 0, 0, 0, 0, 0, 9]), from.address())
    clock.advance(2000)
    expect(flow.ackedBytes()).toBeGreaterThan(0)
    firstBytes.delete(0x01)
    expect([...firstBytes]).toEqual([0xff])
    flow.stop()
  })

  it('shares a bottleneck roughly fairly between two flows', () => {
    const { clock, net, from, to } = bottleneck(4, 100_000)
    const from2 = net.bind('1.0.0.1', 6882)
    const f1 = startRenoFlow({ clock, from, to })
    const f2 = startRenoFlow({ clock, from: from2, to })
    clock.advance(30_000)
    const a = f1.ackedBytes()
    const b = f2.ackedBytes()
    expect((a + b) / 30 / 1_000_000).toBeGreaterThan(0.8)
    expect(Math.min(a, b) / Math.max(a, b)).toBeGreaterThan(0.4)
    f1.stop()
    f2.stop()
  })
})
