import { loadavg } from 'node:os'
import { onExit } from '../on-exit.js'
import { fmt } from '../quantile.js'
import { runLoad, startTrackerChild, type TrackerChild } from './tracker-child.js'
import type { LoadReport, TrackerMemorySample } from './tracker-messages.js'

/**
 * The tracker under a sustained announce load on loopback: a fixed rate of HTTP and UDP announces
 * for `seconds` over many swarms, every announce a new peer; latency percentiles, and the tracker's
 * memory over time; then no more announces until every peer has expired, and the memory after a full
 * collection against the baseline. `cycles` repeats fill and expiry, so growth across cycles shows.
 * The tracker asks for a 1 s announce interval, so a peer expires 62 s after its last announce
 * (tracker/tracker-options.ts, peerTimeoutMs).
 * Usage: node dist/bench/tracker-load/run.js [seconds=60] [HTTP/s=500] [UDP/s=1000] [swarms=10000] [cycles=2]
 */
const seconds = Number(process.argv[2] ?? 60)
const httpRate = Number(process.argv[3] ?? 500)
const udpRate = Number(process.argv[4] ?? 1000)
const swarms = Number(process.argv[5] ?? 10_000)
const cycles = Number(process.argv[6] ?? 2)
const INTERVAL_S = 1
const PEER_TIMEOUT_MS = (INTERVAL_S * 2 + 60) * 1000
const SAMPLE_MS = 2_000
/** Distinct peers the load walks through (each announce a new one until it wraps). */
const PEERS = 250_000

const MiB = 1024 * 1024
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let tracker: TrackerChild | undefined
// On Ctrl-C the tracker child is stopped; on any exit it is killed (its stdin closes with ours).
onExit(() => tracker?.stop())

interface Cycle {
  load: LoadReport
  series: TrackerMemorySample[]
  filled: TrackerMemorySample
  expired: TrackerMemorySample
  expirySeconds: number
}

/** Samples the tracker every SAMPLE_MS until `done` settles. */
async function sampleWhile<T>(t: TrackerChild, done: Promise<T>, into: TrackerMemorySample[]): Promise<T> {
  let over = false
  const result = done.finally(() => {
    over = true
  })
  while (!over) {
    into.push(await t.sample())
    await Promise.race([sleep(SAMPLE_MS), result.catch(() => {})])
  }
  return result
}

async function cycle(t: TrackerChild, index: number): Promise<Cycle> {
  const series: TrackerMemorySample[] = []
  const load = await sampleWhile(
    t,
    runLoad({
      host: '127.0.0.1',
      httpPort: t.httpPort,
      udpPort: t.udpPort,
      seconds,
      httpRate,
      udpRate,
      swarms,
      peers: PEERS,
      // Each cycle starts where the last left off: new peers again.
      first: (index * (httpRate + udpRate) * seconds) % PEERS,
      connections: 16,
    }),
    series,
  )
  const filled = await t.gcSample()
  // No announces now: every peer expires PEER_TIMEOUT_MS after its last one.
  const expiryStart = performance.now()
  const deadline = expiryStart + PEER_TIMEOUT_MS + 30_000
  let s = await t.sample()
  while ((s.peers > 0 || s.swarms > 0) && performance.now() < deadline) {
    series.push(s)
    await sleep(SAMPLE_MS)
    s = await t.sample()
  }
  series.push(s)
  const expired = await t.gcSample()
  return { load, series, filled, expired, expirySeconds: (performance.now() - expiryStart) / 1000 }
}

const mib = (b: number) => fmt(b / MiB, 1)
const row = (name: string, s: TrackerMemorySample) =>
  `| ${name} | ${s.peers} | ${s.swarms} | ${mib(s.heapUsed)} | ${mib(s.arrayBuffers)} | ${mib(s.rss)} |`

async function main(): Promise<void> {
  console.log(
    `tracker load bench: ${seconds} s of ${httpRate} HTTP + ${udpRate} UDP announces/s (open loop, latency from each request's scheduled time) over ${swarms} swarms, every announce a new peer; announce interval ${INTERVAL_S} s, peer expiry ${PEER_TIMEOUT_MS / 1000} s; ${cycles} cycles of load then expiry; node ${process.version}; load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  )
  tracker = await startTrackerChild({ intervalSeconds: INTERVAL_S })
  const t = tracker
  try {
    const baseline = await t.gcSample()
    const results: Cycle[] = []
    for (let i = 0; i < cycles; i++) {
      const c = await cycle(t, i)
      results.push(c)
      console.log(
        `cycle ${i + 1}: load ${fmt(c.load.seconds)} s; every peer gone ${fmt(c.expirySeconds)} s after the load (store: ${c.expired.peers} peers, ${c.expired.swarms} swarms)`,
      )
      console.log(
        '  t s | peers | swarms | heap used MiB | RSS MiB   (samples without forced GC, every 10 s)',
      )
      const t0 = c.series[0]!.t
      let nextAt = 0
      for (const s of c.series) {
        if (s.t - t0 < nextAt) continue
        nextAt += 10_000
        console.log(
          `  ${fmt((s.t - t0) / 1000, 0).padStart(3)} | ${s.peers} | ${s.swarms} | ${mib(s.heapUsed)} | ${mib(s.rss)}`,
        )
      }
    }
    console.log(
      '\n| cycle | HTTP sent / answered / errors | HTTP p50 / p99 / max ms | UDP sent / answered / errors | UDP p50 / p99 / max ms | p99 per 10 s window ms |',
    )
    console.log('| --- | --- | --- | --- | --- | --- |')
    results.forEach((c, i) => {
      const h = c.load.http
      const u = c.load.udp
      console.log(
        `| ${i + 1} | ${h.sent} / ${h.answered} / ${h.errors} | ${fmt(h.p50, 2)} / ${fmt(h.p99, 2)} / ${fmt(h.max, 1)} | ${u.sent} / ${u.answered} / ${u.errors} | ${fmt(u.p50, 2)} / ${fmt(u.p99, 2)} / ${fmt(u.max, 1)} | ${c.load.p99ByWindow.map((x) => fmt(x, 1)).join(', ')} |`,
      )
    })
    console.log('\n| after a forced full GC | peers | swarms | heap used MiB | array buffers MiB | RSS MiB |')
    console.log('| --- | --- | --- | --- | --- | --- |')
    console.log(row('baseline (fresh tracker)', baseline))
    results.forEach((c, i) => {
      console.log(row(`cycle ${i + 1}: end of load`, c.filled))
      console.log(row(`cycle ${i + 1}: all expired`, c.expired))
    })
    const peakRss = Math.max(...results.flatMap((c) => c.series.map((s) => s.rss)))
    const first = results[0]!
    const last = results.at(-1)!
    console.log(`\npeak RSS during the run: ${mib(peakRss)} MiB`)
    console.log(
      `heap after expiry - baseline: ${mib(last.expired.heapUsed - baseline.heapUsed)} MiB; the fill had grown it by ${mib(first.filled.heapUsed - baseline.heapUsed)} MiB (${fmt(((last.expired.heapUsed - baseline.heapUsed) / (first.filled.heapUsed - baseline.heapUsed)) * 100)}% of it remains)`,
    )
    if (results.length > 1) {
      console.log(
        `heap after expiry, last cycle - first cycle: ${fmt((last.expired.heapUsed - first.expired.heapUsed) / 1024, 0)} KiB; RSS: ${mib(last.expired.rss - first.expired.rss)} MiB`,
      )
    }
  } finally {
    await t.stop()
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    tracker?.stop().finally(() => process.exit(1))
  },
)
