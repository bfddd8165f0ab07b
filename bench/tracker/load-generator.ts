import { createSocket } from 'node:dgram'
import { connect, type Socket } from 'node:net'
import { decodeBep15Response, encodeBep15Request } from '../../protocol/bep15/bep15-codec.js'
import {
  announcePath,
  infoHashOf,
  NUMWANT,
  PEERS,
  peerIdOf,
  portOf,
  SOURCE_IPS,
  sourceIpOf,
  swarmOf,
} from './workload.js'

/**
 * The load generator, run as its own process so it does not share an event loop with the server:
 * raw HTTP/1.1 over many keep-alive (or one-shot) connections, or BEP 15 over a few UDP sockets with
 * many announces in flight. Prints one JSON line: requests, errors, seconds, p50/p99 latency (ms).
 */
interface Job {
  mode: 'http' | 'http-close' | 'udp' | 'prefill-udp' | 'prefill-http'
  host: string
  port: number
  seconds: number
  concurrency: number
}

const job = JSON.parse(process.argv[2]!) as Job
const latencies = new Float64Array(2_000_000)
let count = 0
let errors = 0
const record = (start: bigint) => {
  if (count < latencies.length) latencies[count] = Number(process.hrtime.bigint() - start) / 1e6
  count++
}
/** Peers are sent from their own source address: a worker on lane `l` sends peers p with p % SOURCE_IPS == l. */
const lanePeer = (lane: number) => {
  const perLane = Math.floor(PEERS / SOURCE_IPS)
  let k = Math.floor(Math.random() * perLane)
  return () => {
    k = (k + 7919) % perLane
    return k * SOURCE_IPS + lane
  }
}

function report(seconds: number): void {
  const n = Math.min(count, latencies.length)
  const sorted = latencies.subarray(0, n).sort()
  const q = (x: number) => (n ? sorted[Math.min(n - 1, Math.floor(x * n))]! : 0)
  process.stdout.write(`${JSON.stringify({ requests: count, errors, seconds, p50: q(0.5), p99: q(0.99) })}\n`)
}

function httpWorker(
  lane: number,
  deadline: number,
  keepAlive: boolean,
  prefill: { next: () => number | undefined } | undefined,
) {
  const nextPeer = lanePeer(lane)
  return new Promise<void>((resolve) => {
    let socket: Socket | undefined
    let buf = ''
    let start = 0n
    const send = () => {
      const p = prefill ? prefill.next() : nextPeer()
      if (p === undefined || Date.now() > deadline) {
        socket?.destroy()
        resolve()
        return
      }
      if (!socket || socket.destroyed) open()
      start = process.hrtime.bigint()
      socket!.write(
        `GET ${announcePath(p, prefill ? 'started' : undefined)} HTTP/1.1\r\nHost: bench\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`,
      )
    }
    const onData = (d: Buffer) => {
      buf += d.toString('latin1')
      const headEnd = buf.indexOf('\r\n\r\n')
      if (headEnd < 0) return
      const m = /content-length: *(\d+)/i.exec(buf.slice(0, headEnd))
      const len = m ? Number(m[1]) : -1
      if (len >= 0 && buf.length < headEnd + 4 + len) return
      if (len < 0 && keepAlive) return
      if (!buf.startsWith('HTTP/1.1 200') && !buf.startsWith('HTTP/1.0 200')) errors++
      buf = ''
      record(start)
      if (!keepAlive) {
        socket?.destroy()
        socket = undefined
      }
      send()
    }
    const open = () => {
      socket = connect({ host: job.host, port: job.port, noDelay: true, localAddress: sourceIpOf(lane) })
      socket.on('data', onData)
      socket.on('error', () => {
        errors++
      })
      socket.on('close', () => {
        if (!keepAlive && buf.length) {
          buf = ''
          record(start)
          socket = undefined
          send()
        }
      })
    }
    send()
  })
}

async function udpRun(deadline: number, prefill: boolean): Promise<void> {
  const sockets = SOURCE_IPS * 2
  const windowPerSocket = Math.ceil(job.concurrency / sockets)
  await Promise.all(
    Array.from({ length: sockets }, async (_, index) => {
      // Socket `index` sends the peers of lane index % SOURCE_IPS, from that lane's address.
      const lane = index % SOURCE_IPS
      const nextPeer = lanePeer(lane)
      let prefillNext = index
      const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 })
      await new Promise<void>((r) => s.bind(0, sourceIpOf(lane), r))
      const inflight = new Map<number, bigint>()
      let tx = 1
      let connectionId = 0n
      await new Promise<void>((resolve) => {
        let finished = false
        const finish = () => {
          if (finished) return
          finished = true
          clearInterval(sweeper)
          s.close()
          resolve()
        }
        const sendAnnounce = () => {
          let p: number | undefined
          if (!prefill) p = nextPeer()
          else if (prefillNext < PEERS) {
            p = prefillNext
            prefillNext += sockets
          }
          if (p === undefined || Date.now() > deadline) {
            if (inflight.size === 0) finish()
            return
          }
          const id = tx++ >>> 0
          inflight.set(id, process.hrtime.bigint())
          s.send(
            encodeBep15Request({
              action: 'announce',
              connectionId,
              transactionId: id,
              infoHash: infoHashOf(swarmOf(p)),
              peerId: peerIdOf(p),
              downloaded: 0n,
              left: p % 4 === 0 ? 0n : 1000n,
              uploaded: 0n,
              event: prefill ? 'started' : 'none',
              ip: 0,
              key: p,
              numWant: NUMWANT,
              port: portOf(p),
            }),
            job.port,
            job.host,
          )
        }
        // Lost datagrams: count as errors after 2 s and keep the window full.
        const sweeper = setInterval(() => {
          const now = process.hrtime.bigint()
          for (const [id, t] of inflight) {
            if (now - t > 2_000_000_000n) {
              inflight.delete(id)
              errors++
              sendAnnounce()
            }
          }
          if (Date.now() > deadline + 3000) finish()
        }, 500)
        s.on('message', (m) => {
          const r = decodeBep15Response(m)
          if (r.action === 'connect') {
            connectionId = r.connectionId
            for (let i = 0; i < windowPerSocket; i++) sendAnnounce()
            return
          }
          const t = inflight.get(r.transactionId)
          if (t === undefined) return
          inflight.delete(r.transactionId)
          if (r.action === 'error') errors++
          record(t)
          sendAnnounce()
        })
        s.send(encodeBep15Request({ action: 'connect', transactionId: 0 }), job.port, job.host)
      })
    }),
  )
}

const began = Date.now()
const deadline = began + job.seconds * 1000
if (job.mode === 'udp' || job.mode === 'prefill-udp') {
  await udpRun(job.mode === 'prefill-udp' ? Number.MAX_SAFE_INTEGER : deadline, job.mode === 'prefill-udp')
} else {
  // Prefill over HTTP: worker i announces peers i, i + n, i + 2n ... (n = concurrency, a multiple of SOURCE_IPS).
  const n = Math.ceil(job.concurrency / SOURCE_IPS) * SOURCE_IPS
  await Promise.all(
    Array.from({ length: n }, (_, i) => {
      let next = i
      const prefill =
        job.mode === 'prefill-http'
          ? {
              next: () => {
                if (next >= PEERS) return undefined
                const p = next
                next += n
                return p
              },
            }
          : undefined
      return httpWorker(
        i % SOURCE_IPS,
        prefill ? Number.MAX_SAFE_INTEGER : deadline,
        job.mode !== 'http-close',
        prefill,
      )
    }),
  )
}
report((Date.now() - began) / 1000)
