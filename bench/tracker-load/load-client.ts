import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { connect, type Socket } from 'node:net'
import { decodeBep15Response, encodeBep15Request } from '../../protocol/bep15/bep15-codec.js'
import { quantile } from '../quantile.js'
import {
  announcePath,
  infoHashOf,
  NUMWANT,
  peerIdOf,
  portOf,
  SOURCE_IPS,
  sourceIpOf,
} from '../tracker/workload.js'
import type { LatencySummary, LoadReport } from './tracker-messages.js'

/**
 * An open-loop announce load at a fixed rate: requests leave on a schedule whatever the tracker's
 * answers do, and each latency is measured from the request's scheduled time, so a tracker that falls
 * behind shows it in the tail (no coordinated omission). HTTP over kept-alive connections (requests
 * pipelined when one is still out), BEP 15 over one UDP socket per source address. Announce `i` is
 * peer `first + i` (every peer new until `peers` wraps), in swarm `(first + i) % swarms`.
 * Prints one JSON line: the LoadReport.
 */
export interface LoadJob {
  host: string
  httpPort: number
  udpPort: number
  /** Stop after this long... */
  seconds: number
  /** ...or after this many announces in all, whichever comes first. */
  count?: number
  httpRate: number
  udpRate: number
  swarms: number
  /** Distinct peers (at most 250,000: each has its own port). */
  peers: number
  first?: number
  connections: number
}

const job = JSON.parse(process.argv[2]!) as LoadJob
const UDP_TIMEOUT_MS = 2_000
/** BEP 15 connection ids live one to two minutes on this tracker: take a new one well before. */
const UDP_RECONNECT_MS = 30_000
const TICK_MS = 5

const now = () => performance.now()
let issued = 0
const peerOf = () => {
  const p = ((job.first ?? 0) + issued++) % job.peers
  return { p, swarm: p % job.swarms }
}
const budgetLeft = () => job.count === undefined || issued < job.count

class Latencies {
  readonly ms: number[] = []
  sent = 0
  errors = 0
  /** [time answered, latency] pairs, for the per-window tails. */
  readonly timeline: [number, number][] = []
  record(scheduled: number): void {
    const t = now()
    this.ms.push(t - scheduled)
    this.timeline.push([t, t - scheduled])
  }
  summary(): LatencySummary {
    return {
      sent: this.sent,
      answered: this.ms.length,
      errors: this.errors,
      p50: quantile(this.ms, 0.5),
      p99: quantile(this.ms, 0.99),
      max: this.ms.reduce((a, b) => Math.max(a, b), 0),
    }
  }
}

const http = new Latencies()
const udp = new Latencies()

/** One kept-alive HTTP connection: requests go out at once, answers come back in order. */
function httpConnection(lane: number) {
  const queue: number[] = []
  let buf = ''
  let socket: Socket
  const open = () => {
    socket = connect({ host: job.host, port: job.httpPort, noDelay: true, localAddress: sourceIpOf(lane) })
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      for (;;) {
        const headEnd = buf.indexOf('\r\n\r\n')
        if (headEnd < 0) return
        const m = /content-length: *(\d+)/i.exec(buf.slice(0, headEnd))
        const end = headEnd + 4 + (m ? Number(m[1]) : 0)
        if (buf.length < end) return
        if (!buf.startsWith('HTTP/1.1 200')) http.errors++
        buf = buf.slice(end)
        http.record(queue.shift()!)
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      // Whatever was still out is lost; reconnect for the rest.
      http.errors += queue.length
      queue.length = 0
      buf = ''
      if (!stopped) open()
    })
  }
  open()
  return {
    lane,
    send(scheduled: number, p: number, swarm: number) {
      queue.push(scheduled)
      http.sent++
      socket.write(`GET ${announcePath(p, undefined, swarm)} HTTP/1.1\r\nHost: bench\r\n\r\n`)
    },
    close: () => socket.destroy(),
  }
}

/** One UDP socket sending from one source address, with its own BEP 15 connection id. */
async function udpLane(lane: number) {
  const s: UdpSocket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 })
  await new Promise<void>((r) => s.bind(0, sourceIpOf(lane), r))
  const inflight = new Map<number, number>()
  let tx = 1
  let connectionId: bigint | undefined
  let askedAt = Number.NEGATIVE_INFINITY
  // A new id is asked for while the old one is still used: an id stays valid for a minute or more,
  // and announces keep leaving on schedule while the answer is on its way.
  const renew = () => {
    if (now() - askedAt < 1_000) return
    askedAt = now()
    s.send(encodeBep15Request({ action: 'connect', transactionId: 0 }), job.udpPort, job.host)
  }
  s.on('message', (m) => {
    const r = decodeBep15Response(m)
    if (r.action === 'connect') {
      connectionId = r.connectionId
      return
    }
    const scheduled = inflight.get(r.transactionId)
    if (scheduled === undefined) return
    inflight.delete(r.transactionId)
    if (r.action === 'error') {
      udp.errors++
      renew()
      return
    }
    udp.record(scheduled)
  })
  renew()
  while (connectionId === undefined) {
    await new Promise((r) => setTimeout(r, 10))
    if (now() - askedAt > UDP_TIMEOUT_MS) renew()
  }
  return {
    lane,
    send(scheduled: number, p: number, swarm: number) {
      if (now() - askedAt > UDP_RECONNECT_MS) renew()
      const id = tx++ >>> 0 || tx++
      inflight.set(id, scheduled)
      udp.sent++
      s.send(
        encodeBep15Request({
          action: 'announce',
          connectionId: connectionId!,
          transactionId: id,
          infoHash: infoHashOf(swarm),
          peerId: peerIdOf(p),
          downloaded: 0n,
          left: p % 4 === 0 ? 0n : 1000n,
          uploaded: 0n,
          event: 'started',
          ip: 0,
          key: p,
          numWant: NUMWANT,
          port: portOf(p),
        }),
        job.udpPort,
        job.host,
      )
    },
    /** Unanswered after UDP_TIMEOUT_MS: lost. */
    sweep(t: number) {
      for (const [id, scheduled] of inflight) {
        if (t - scheduled < UDP_TIMEOUT_MS) break
        inflight.delete(id)
        udp.errors++
      }
    },
    pending: () => inflight.size,
    close: () => s.close(),
  }
}

let stopped = false

async function main(): Promise<void> {
  // Peer p is sent from its own lane's source address, over HTTP or UDP by the schedule.
  const httpConns = Array.from({ length: job.connections }, (_, i) => httpConnection(i % SOURCE_IPS))
  const udpLanes = await Promise.all(Array.from({ length: SOURCE_IPS }, (_, i) => udpLane(i)))
  const start = now()
  const end = start + job.seconds * 1000
  let httpDone = 0
  let udpDone = 0
  let next = 0
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const t = Math.min(now(), end)
      const elapsed = (t - start) / 1000
      // Every request due by now, each stamped with the moment it was due.
      for (; httpDone < Math.floor(job.httpRate * elapsed) && budgetLeft(); httpDone++) {
        const { p, swarm } = peerOf()
        const c = httpConns[next++ % httpConns.length]!
        c.send(start + (httpDone / job.httpRate) * 1000, p, swarm)
      }
      for (; udpDone < Math.floor(job.udpRate * elapsed) && budgetLeft(); udpDone++) {
        const { p, swarm } = peerOf()
        udpLanes[p % SOURCE_IPS]!.send(start + (udpDone / job.udpRate) * 1000, p, swarm)
      }
      for (const l of udpLanes) l.sweep(now())
      const httpOut = http.sent - http.ms.length - http.errors
      const udpOut = udpLanes.reduce((n, l) => n + l.pending(), 0)
      const finished = now() >= end || !budgetLeft()
      if (finished && ((httpOut <= 0 && udpOut === 0) || now() > end + UDP_TIMEOUT_MS + 3_000)) {
        clearInterval(tick)
        resolve()
      }
    }, TICK_MS)
  })
  stopped = true
  for (const c of httpConns) c.close()
  for (const l of udpLanes) l.close()
  const seconds = (Math.min(now(), end) - start) / 1000
  const windows: number[][] = []
  for (const [t, ms] of [...http.timeline, ...udp.timeline]) {
    const w = Math.floor((t - start) / 10_000)
    windows[w] ??= []
    windows[w].push(ms)
  }
  const report: LoadReport = {
    http: http.summary(),
    udp: udp.summary(),
    seconds,
    p99ByWindow: Array.from(windows, (w) => quantile(w ?? [], 0.99)),
  }
  process.stdout.write(`${JSON.stringify(report)}\n`)
  process.exit(0)
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack}\n`)
  process.exit(1)
})
