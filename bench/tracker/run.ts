import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import {
  type BenchServer,
  rssOf,
  startBittorrentTracker,
  startOpentracker,
  startPunchswarm,
  startPunchswarmOnDgram,
  startTrivialServer,
} from './servers.js'
import { PEERS, SWARMS } from './workload.js'

/**
 * Tracker announce throughput, latency and memory per peer: punchswarm against bittorrent-tracker
 * and opentracker, in one run, phases interleaved (A B C A B C ...), the same request mix for all.
 * Usage: node dist/bench/tracker/run.js [rounds=3] [seconds=8]
 */
const GENERATOR = fileURLToPath(new URL('./load-generator.js', import.meta.url))
const rounds = Number(process.argv[2] ?? 3)
const seconds = Number(process.argv[3] ?? 8)
const HTTP_CONNECTIONS = 64
const UDP_WINDOW = 256

interface GenResult {
  requests: number
  errors: number
  seconds: number
  p50: number
  p99: number
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

function generate(mode: string, port: number, secs: number, concurrency: number): Promise<GenResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [GENERATOR, JSON.stringify({ mode, host: '127.0.0.1', port, seconds: secs, concurrency })],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1)!))
        : reject(new Error(`generator ${mode} exited ${code}`)),
    )
  })
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN
}

/** Heap plus array buffers of a punchswarm tracker, from its own /stats.json (after its GC settles). */
async function heapOf(port: number): Promise<number> {
  const s = (await (await fetch(`http://127.0.0.1:${port}/stats.json`)).json()) as {
    memory: { heapUsed: number; arrayBuffers: number }
  }
  return s.memory.heapUsed + s.memory.arrayBuffers
}

type Row = {
  httpRate: number[]
  httpP50: number[]
  httpP99: number[]
  udpRate: number[]
  udpP50: number[]
  udpP99: number[]
  bytesPerPeer: number[]
  errors: number
}
const results = new Map<string, Row>()
const row = (name: string): Row => {
  const existing = results.get(name)
  if (existing) return existing
  const r: Row = {
    httpRate: [],
    httpP50: [],
    httpP99: [],
    udpRate: [],
    udpP50: [],
    udpP99: [],
    bytesPerPeer: [],
    errors: 0,
  }
  results.set(name, r)
  return r
}

const heapPerPeer: number[] = []

const starters: [string, (port: number) => Promise<BenchServer>][] = [
  ['punchswarm', startPunchswarm],
  // BENCH_TRACKER_DGRAM=1: also punchswarm with its UDP port on node:dgram (no batched addon).
  ...(process.env.BENCH_TRACKER_DGRAM === '1'
    ? [
        ['punchswarm on node:dgram', startPunchswarmOnDgram] as [
          string,
          (port: number) => Promise<BenchServer>,
        ],
      ]
    : []),
  ['bittorrent-tracker', startBittorrentTracker],
  ['opentracker', startOpentracker],
]

console.log(
  `tracker bench: ${SWARMS} swarms, ${PEERS} peers, compact, numwant 50; ${rounds} rounds of ${seconds} s per phase`,
)
const trivial = await startTrivialServer(await freePort())
const ceiling = await generate('http', trivial.port, seconds, HTTP_CONNECTIONS)
await trivial.stop()
console.log(
  `load generator ceiling (trivial HTTP server, keep-alive): ${Math.round(ceiling.requests / ceiling.seconds)} req/s`,
)

for (let round = 1; round <= rounds; round++) {
  for (const [name, start] of starters) {
    const server = await start(await freePort())
    try {
      await new Promise((r) => setTimeout(r, 300))
      const before = rssOf(server.pid)
      const heapBefore = name === 'punchswarm' ? await heapOf(server.port) : 0
      const fill = await generate('prefill-udp', server.port, 0, UDP_WINDOW)
      await new Promise((r) => setTimeout(r, 500))
      const after = rssOf(server.pid)
      const r = row(name)
      r.bytesPerPeer.push((after - before) / PEERS)
      if (name === 'punchswarm') heapPerPeer.push(((await heapOf(server.port)) - heapBefore) / PEERS)
      const http = await generate(
        server.keepAlive ? 'http' : 'http-close',
        server.port,
        seconds,
        HTTP_CONNECTIONS,
      )
      const udp = await generate('udp', server.port, seconds, UDP_WINDOW)
      r.httpRate.push(http.requests / http.seconds)
      r.httpP50.push(http.p50)
      r.httpP99.push(http.p99)
      r.udpRate.push(udp.requests / udp.seconds)
      r.udpP50.push(udp.p50)
      r.udpP99.push(udp.p99)
      r.errors += http.errors + udp.errors + fill.errors
      console.log(
        `round ${round} ${name.padEnd(18)} http ${Math.round(http.requests / http.seconds)}/s p99 ${http.p99.toFixed(1)} ms | udp ${Math.round(udp.requests / udp.seconds)}/s p99 ${udp.p99.toFixed(1)} ms | ${((after - before) / PEERS).toFixed(0)} B/peer (RSS) | errors ${http.errors + udp.errors + fill.errors}`,
      )
    } finally {
      await server.stop()
    }
  }
}

const ps = results.get('punchswarm')!
console.log(
  '\n| tracker | HTTP announces/s | HTTP p50 / p99 ms | UDP announces/s | UDP p50 / p99 ms | RSS bytes/peer | errors |',
)
console.log('| --- | --- | --- | --- | --- | --- | --- |')
for (const [name, r] of results) {
  console.log(
    `| ${name} | ${Math.round(median(r.httpRate))} | ${median(r.httpP50).toFixed(1)} / ${median(r.httpP99).toFixed(1)} | ${Math.round(median(r.udpRate))} | ${median(r.udpP50).toFixed(1)} / ${median(r.udpP99).toFixed(1)} | ${Math.round(median(r.bytesPerPeer))} | ${r.errors} |`,
  )
}
console.log(
  `punchswarm heap + array buffers per peer (its own accounting): ${Math.round(median(heapPerPeer))} bytes`,
)
for (const [name, r] of results) {
  if (name === 'punchswarm') continue
  console.log(
    `punchswarm / ${name}: HTTP ${(median(ps.httpRate) / median(r.httpRate)).toFixed(2)}x, UDP ${(median(ps.udpRate) / median(r.udpRate)).toFixed(2)}x`,
  )
}
