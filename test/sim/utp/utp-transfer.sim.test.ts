import { describe, expect, it } from 'vitest'
import type { UtpEndpointOptions } from '../../../client/utp/utp-endpoint.js'
import type { PathOptions, UplinkOptions } from '../memory-network.js'
import { receiveInto, simEndpoint, simWorld, startTransfer } from './utp-sim.js'

const MiB = 1024 * 1024
const A = '198.18.0.1'
const B = '198.18.0.2'

/**
 * A sender at A and a listening receiver at B over one link, A's uplink the bottleneck; the transfer
 * of `bytes` is started, not run.
 */
function startOnPath(
  seed: number,
  link: PathOptions,
  uplink: UplinkOptions,
  bytes: number,
  options: { client?: UtpEndpointOptions; server?: UtpEndpointOptions } = {},
) {
  const world = simWorld(seed)
  world.net.link(A, B, link)
  const sa = world.net.bind(A, 6881)
  const sb = world.net.bind(B, 6881)
  world.net.uplink(A, uplink)
  const client = simEndpoint(world, sa, options.client)
  const server = simEndpoint(world, sb, options.server)
  const t = startTransfer(world, client, sb.address(), receiveInto(world, server), bytes)
  return { world, client, t }
}

function transfer(seed: number, path: { rttMs: number; loss: number }, bytes = 10 * MiB) {
  const { world, t } = startOnPath(
    seed,
    {
      delayMs: path.rttMs / 2,
      // Per-packet jitter reorders neighbours; 1% of packets are held back a quarter RTT besides.
      jitterMs: 1,
      loss: path.loss,
      duplicate: 0.01,
      reorder: 0.01,
      reorderDelayMs: path.rttMs / 4,
    },
    // A home uplink: 4 MB/s with a 256 KB queue, so the sender cannot flood the simulation.
    { rateBytesPerSec: 4_000_000, queueBytes: 256_000 },
    bytes,
  )
  const done = world.clock.runUntil(() => t.finished || t.error !== undefined, 3_600_000)
  return { t, done, world }
}

describe('uTP over the simulated network: 10 MiB arrives byte-exact', () => {
  const cases: [number, number][] = []
  for (const loss of [0, 0.01, 0.05, 0.1]) for (const rtt of [2, 50, 300]) cases.push([loss, rtt])
  it.each(cases)('loss %s, RTT %s ms, with jitter, duplication and reordering', (loss, rttMs) => {
    const { t, done, world } = transfer(1000 + rttMs + loss * 100, { rttMs, loss })
    expect(t.error).toBeUndefined()
    expect(done).toBe(true)
    expect(t.received.bytes).toBe(t.total)
    expect(t.receivedDigest()).toBe(t.sentDigest())
    expect(t.received.ended).toBe(true)
    const stats = t.connection.stats
    if (loss > 0) expect(stats.retransmits).toBeGreaterThan(0)
    const seconds = (world.clock.now() - t.startedAt) / 1000
    // Goodput floor: even at 10% loss and 300 ms the transfer keeps moving (Mathis et al. predict
    // ~18 KB/s for a loss-halving sender there); without loss even 300 ms RTT tops 500 KB/s.
    expect(t.total / seconds).toBeGreaterThan(loss === 0 ? 500_000 : 10_000)
  })

  it('keeps its slow start inside a 2.5 MB bottleneck buffer: no loss, no retransmission', () => {
    // A fast path whose only queue holds 2.5 MB: a receiver slower than its sender, whose socket
    // buffer is that queue, looks the same. The receive window bounds what slow start can put in
    // flight; at 4 MiB the burst overflowed the buffer, more loss than a selective ack describes.
    const run = (recvWindow?: number) => {
      const options = recvWindow ? { recvWindow } : {}
      const { world, t } = startOnPath(
        77,
        { delayMs: 1 },
        { rateBytesPerSec: 40_000_000, queueBytes: 2_500_000 },
        64 * MiB,
        { client: options, server: options },
      )
      expect(world.clock.runUntil(() => t.finished || t.error !== undefined, 600_000)).toBe(true)
      expect(t.receivedDigest()).toBe(t.sentDigest())
      return t.connection.stats
    }
    const defaults = run()
    expect(defaults.retransmits).toBe(0)
    expect(defaults.timeouts).toBe(0)
    // The same path with a window past the buffer does lose packets: the test can tell.
    expect(run(4 * MiB).retransmits).toBeGreaterThan(0)
  })

  it('is reproducible: the same seed gives the same packet trace and timing', () => {
    const a = transfer(77, { rttMs: 50, loss: 0.05 }, 2 * MiB)
    const b = transfer(77, { rttMs: 50, loss: 0.05 }, 2 * MiB)
    expect(a.world.clock.now()).toBe(b.world.clock.now())
    expect(a.t.connection.stats).toEqual(b.t.connection.stats)
    expect(a.world.net.stats()).toEqual(b.world.net.stats())
  })

  it('reports a peer that vanishes mid-transfer with TRANSPORT_TIMEOUT within the timeout', () => {
    const { world, client, t } = startOnPath(
      5,
      { delayMs: 25 },
      { rateBytesPerSec: 1_000_000, queueBytes: 100_000 },
      100 * MiB,
      { client: { timeoutMs: 20_000 } },
    )
    const { net, clock } = world
    clock.advance(3000)
    expect(t.received.bytes).toBeGreaterThan(0)
    // The peer's machine disappears: nothing it would send arrives any more.
    const vanishedAt = clock.now()
    net.path(B, A, { loss: 1 })
    net.path(A, B, { loss: 1 })
    clock.runUntil(() => t.error !== undefined, 60_000)
    expect(t.error?.code).toBe('TRANSPORT_TIMEOUT')
    const detectedAfter = t.errorAt! - vanishedAt
    expect(detectedAfter).toBeGreaterThanOrEqual(19_000)
    expect(detectedAfter).toBeLessThanOrEqual(20_500)
    expect(client.connectionCount).toBe(0)
  })

  it('a connect to a silent address fails with TRANSPORT_TIMEOUT after the connect timeout', () => {
    const world = simWorld(6)
    const sa = world.net.bind(A, 6881)
    const client = simEndpoint(world, sa, { connectTimeoutMs: 10_000 })
    const receivers = new Map()
    const t = startTransfer(world, client, { address: B, port: 9 }, receivers, 1000)
    world.clock.runUntil(() => t.error !== undefined, 60_000)
    expect(t.error?.code).toBe('TRANSPORT_TIMEOUT')
    expect(t.errorAt).toBe(10_000)
  })
})
