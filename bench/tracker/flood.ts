import { randomBytes } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { realClock, realRandom } from '../../client/real-clock.js'
import { encodeBep15Request } from '../../protocol/bep15/bep15-codec.js'
import { issueConnectionId } from '../../protocol/bep15/connection-id.js'
import { RequestLimiter } from '../../tracker/request-limiter.js'
import { TrackerStats } from '../../tracker/stats/tracker-stats.js'
import { MemorySwarmStore } from '../../tracker/store/memory-swarm-store.js'
import { UdpTrackerHandler } from '../../tracker/udp/udp-tracker-handler.js'

/**
 * Tracker flood: announces for random info hashes (one peer each, as a flood makes them), through the
 * swarm store directly or through the BEP 15 handler in-process (connection-id check, per-address
 * limit, encode and decode included), with a swarm cap. Prints time, rate, the most swarms held, and
 * the heap and resident-size growth after a forced GC.
 * Usage: node dist/bench/tracker/flood.js [store|udp] [announces=1000000] [maxSwarms=1000000]
 */
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const mode = process.argv[2] === 'udp' ? 'udp' : 'store'
const announces = Number(process.argv[3] ?? 1_000_000)
const maxSwarms = Number(process.argv[4] ?? 1_000_000)

const store = new MemorySwarmStore({ random: realRandom }, { maxSwarms })
const infoHash = new Uint8Array(20)
const peerId = randomBytes(20)
const secret = randomBytes(32)
const handler = new UdpTrackerHandler(
  { intervalSeconds: 1800 },
  {
    store,
    clock: realClock,
    stats: new TrackerStats({ clock: realClock }),
    secret,
    limiter: new RequestLimiter(20, 200),
  },
)
// Sources spread over many addresses, so the per-address limit admits every announce.
const SOURCES = 65_536
const sourceOf = (i: number) => ({ address: `10.${(i >> 8) & 255}.${i & 255}.1`, port: 6881 })
let cids: bigint[] = []
// Connection ids last about two minutes (BEP 15): take fresh ones every 50,000 announces.
const refreshIds = () => {
  cids = Array.from({ length: SOURCES }, (_, i) =>
    issueConnectionId(secret, sourceOf(i).address, 6881, realClock.now()),
  )
}

gc()
const before = process.memoryUsage()
const t0 = performance.now()
let most = 0
for (let i = 0; i < announces; i++) {
  realRandom.bytes(infoHash)
  if (mode === 'store') {
    store.announce({
      infoHash,
      peerId,
      ip: '198.18.0.1',
      family: 'IPv4',
      port: 6881,
      left: 1,
      event: 'started',
      numwant: 50,
      now: realClock.now(),
    })
  } else {
    if (i % 50_000 === 0) refreshIds()
    const s = i % SOURCES
    const req = encodeBep15Request({
      action: 'announce',
      connectionId: cids[s]!,
      transactionId: i,
      infoHash,
      peerId,
      downloaded: 0n,
      left: 1n,
      uploaded: 0n,
      event: 'started',
      ip: 0,
      key: 0,
      numWant: -1,
      port: 6881,
    })
    handler.handle(req, sourceOf(s))
  }
  if ((i & 1023) === 0) most = Math.max(most, store.size().swarms)
}
const seconds = (performance.now() - t0) / 1000
most = Math.max(most, store.size().swarms)
gc()
const after = process.memoryUsage()
const heap = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers)
const held = store.size().swarms
console.log(
  `tracker flood (${mode}): ${announces} announces for random info hashes, max swarms ${maxSwarms}\n` +
    `  ${seconds.toFixed(1)} s, ${Math.round(announces / seconds)} announces/s; most swarms held ${most}, evicted ${store.evictedSwarms}\n` +
    `  heap + array buffers grew ${(heap / 2 ** 20).toFixed(1)} MiB (${Math.round(heap / held)} B per swarm held); ` +
    `resident size grew ${((after.rss - before.rss) / 2 ** 20).toFixed(1)} MiB`,
)
