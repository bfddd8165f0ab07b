import { describe, expect, it, onTestFinished } from 'vitest'
import { runLoad, startTrackerChild } from '../../bench/tracker-load/tracker-child.js'
import type { TrackerMemorySample } from '../../bench/tracker-load/tracker-messages.js'

/** Announce interval 1 s: a peer expires 62 s after its last announce (tracker/tracker-options.ts). */
const PEER_TIMEOUT_MS = 62_000
const PEERS_PER_CYCLE = 4_000
const SWARMS = 2_000

describe('tracker memory once swarms expire (real tracker process, real UDP and HTTP)', () => {
  it('the store empties after every expiry, and the heap after a full GC does not grow from one fill/expire cycle to the next', async () => {
    // The tracker's clock can be moved forward, so peers age without a minute's wait; expiry itself
    // is the tracker's own, on its own timer.
    const t = await startTrackerChild({ intervalSeconds: 1, offsetClock: true })
    onTestFinished(() => t.stop())
    const filled: TrackerMemorySample[] = []
    const expired: TrackerMemorySample[] = []
    // Cycle 0 warms the process up (compiled code, connection handling); cycles 1 and 2 are compared.
    for (let cycle = 0; cycle < 3; cycle++) {
      const load = await runLoad({
        host: '127.0.0.1',
        httpPort: t.httpPort,
        udpPort: t.udpPort,
        seconds: 8,
        count: PEERS_PER_CYCLE,
        httpRate: 500,
        udpRate: 2_000,
        swarms: SWARMS,
        peers: 250_000,
        first: cycle * PEERS_PER_CYCLE,
        connections: 4,
      })
      // The load process has exited, but a busy tracker may still be reading its last datagrams:
      // wait until the count stops moving, so none lands after the clock moves on.
      let before = -1
      for (let i = 0; i < 40; i++) {
        const { peers } = await t.sample()
        if (peers === before) break
        before = peers
        await new Promise((r) => setTimeout(r, 300))
      }
      const f = await t.gcSample()
      // Every announce was a new peer. A busy machine may lose a few UDP datagrams, never half.
      expect(f.peers).toBeGreaterThanOrEqual(load.http.answered + load.udp.answered)
      expect(f.peers).toBeGreaterThan(PEERS_PER_CYCLE / 2)
      expect(f.swarms).toBeGreaterThan(SWARMS / 2)
      filled.push(f)
      await t.advance(PEER_TIMEOUT_MS + 1_000)
      let s = await t.sample()
      for (let i = 0; i < 40 && (s.peers > 0 || s.swarms > 0); i++) {
        await new Promise((r) => setTimeout(r, 250))
        s = await t.sample()
      }
      expect({ peers: s.peers, swarms: s.swarms }).toEqual({ peers: 0, swarms: 0 })
      expired.push(await t.gcSample())
    }
    // What one fill holds on the heap: megabytes for thousands of swarms, so the check can see it.
    const held = filled[1]!.heapUsed - expired[0]!.heapUsed
    expect(held).toBeGreaterThan(512 * 1024)
    // Expiry gives it back, and the next cycle leaves behind well under what a fill holds (a leak of
    // the swarms would leave it all; warm-up leaves a little less each cycle).
    expect(filled[2]!.heapUsed - expired[2]!.heapUsed).toBeGreaterThan(held / 2)
    expect(expired[2]!.heapUsed - expired[1]!.heapUsed).toBeLessThan(held / 2)
  }, 60_000)
})
