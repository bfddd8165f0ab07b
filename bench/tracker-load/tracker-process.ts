import { createInterface } from 'node:readline'
import { realClock } from '../../client/real-clock.js'
import type { Clock } from '../../protocol/clock.js'
import { startTracker } from '../../tracker/tracker-server.js'
import type { TrackerMemoryCommand, TrackerMemorySample } from './tracker-messages.js'

/**
 * The real tracker (HTTP and UDP on 127.0.0.1, expiry running) in a process of its own, so that its
 * memory is its own. Run with --expose-gc. Commands on stdin, JSON lines on stdout:
 * `sample` (memory and the store's counts), `gc` (two full collections, then a sample) and, with
 * `offsetClock`, `advance` (moves the tracker's clock forward: peers age without waiting).
 * Usage: node --expose-gc tracker-process.js '{"intervalSeconds":1,"offsetClock":false}'
 */
const options = JSON.parse(process.argv[2] ?? '{}') as { intervalSeconds?: number; offsetClock?: boolean }
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc')

let offsetMs = 0
/** The real clock, plus however far `advance` moved it: expiry then sees every peer as that much older. */
const clock: Clock = options.offsetClock ? { ...realClock, now: () => realClock.now() + offsetMs } : realClock

const tracker = await startTracker(
  // The load comes from one address: the per-address limit would refuse most of it.
  { host: '127.0.0.1', port: 0, intervalSeconds: options.intervalSeconds ?? 1, maxRequestsPerSecond: 0 },
  { clock },
)

function sample(afterGc: boolean): TrackerMemorySample {
  const m = process.memoryUsage()
  const { swarms, peers } = tracker.store.size()
  return {
    event: 'sample',
    t: performance.now(),
    afterGc,
    rss: m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    swarms,
    peers,
  }
}

const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`)
out({ event: 'listening', httpPort: tracker.httpPort, udpPort: tracker.udpPort })

const rl = createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const c = JSON.parse(line) as TrackerMemoryCommand
  switch (c.op) {
    case 'sample':
      out(sample(false))
      break
    case 'gc':
      gc()
      gc()
      out(sample(true))
      break
    case 'advance':
      offsetMs += c.ms
      out({ event: 'advanced', offsetMs })
      break
  }
})
rl.on('close', () => {
  tracker.close().then(() => process.exit(0))
})
