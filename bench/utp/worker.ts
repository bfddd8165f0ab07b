import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer, connect as tcpConnect } from 'node:net'
import type { Duplex } from 'node:stream'
import { UdpSocket } from '../../client/udp-socket.js'
import { UtpEndpoint } from '../../client/utp/utp-endpoint.js'
import type { UtpStream } from '../../client/utp/utp-stream.js'
import type {
  Cpu,
  LinkStats,
  ParentMessage,
  ReceiverConfig,
  SenderConfig,
  WorkerMessage,
} from './messages.js'

/**
 * One side of a bulk transfer, forked by run.ts so sender and receiver each get their own core.
 * Usage (by run.ts only): worker.js '<ReceiverConfig | SenderConfig as JSON>'
 */
const WRITE_CHUNK = 64 * 1024

const post = (m: WorkerMessage, then?: () => void): void => {
  process.send!(m, undefined, {}, () => then?.())
}

const cpuSince = (start: NodeJS.CpuUsage): Cpu => {
  const u = process.cpuUsage(start)
  return { user: u.user / 1e6, system: u.system / 1e6 }
}

export function linkStats(stream: UtpStream): LinkStats {
  const c = stream.connection
  return {
    ...c.stats,
    state: c.state,
    cwnd: c.congestionWindow,
    bytesInFlight: c.bytesInFlight,
    bufferedBytes: c.bufferedBytes,
    rttMs: c.rttMs,
  }
}

/** Copies what arrives into one preallocated buffer; hashes it once the stream ended, off the clock. */
export async function receive(cfg: ReceiverConfig): Promise<void> {
  // Touched now, so the transfer does not pay the page faults of a fresh allocation.
  const target = Buffer.allocUnsafe(cfg.bytes).fill(0)
  let received = 0
  let overflow = 0
  let statsOf: () => LinkStats | undefined = () => undefined
  let started = false

  const onStream = (s: Duplex, stats: () => LinkStats | undefined): void => {
    if (started) {
      s.destroy()
      return
    }
    started = true
    statsOf = stats
    const cpuStart = process.cpuUsage()
    const progress = setInterval(() => post({ type: 'progress', bytes: received, stats: statsOf() }), 1000)
    s.on('data', (d: Buffer) => {
      const room = cfg.bytes - received
      if (d.length > room) overflow += d.length - Math.max(0, room)
      // TypedArray#set: one memcpy, without Buffer#copy's per-call argument handling.
      if (room > 0) target.set(d.length <= room ? d : d.subarray(0, room), received)
      received += d.length
    })
    s.once('end', () => {
      const cpu = cpuSince(cpuStart)
      clearInterval(progress)
      post({ type: 'end', bytes: received, overflow, cpu, stats: statsOf() }, () => {
        const sha256 = createHash('sha256')
          .update(target.subarray(0, Math.min(received, cfg.bytes)))
          .digest('hex')
        post({ type: 'result', sha256 })
        s.end()
      })
    })
    s.on('error', (err) => {
      clearInterval(progress)
      post({ type: 'error', message: `receiver: ${err.message}`, stats: statsOf() })
    })
  }

  if (cfg.transport === 'utp') {
    const socket = await UdpSocket.open({
      host: '127.0.0.1',
      recvBufferSize: cfg.buffers,
      sendBufferSize: cfg.buffers,
    })
    const endpoint = new UtpEndpoint(socket).listen()
    endpoint.on('connection', (s) => onStream(s, () => linkStats(s)))
    endpoint.on('error', (err) => post({ type: 'error', message: `receiver endpoint: ${err.message}` }))
    post({ type: 'ready', port: socket.address().port, buffers: socket.bufferSizes() })
  } else {
    const server = createServer((s) => onStream(s, () => undefined))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    post({ type: 'ready', port: (server.address() as { port: number }).port })
  }
}

async function writeAll(s: Duplex, data: Buffer): Promise<void> {
  for (let o = 0; o < data.length; o += WRITE_CHUNK) {
    if (!s.write(data.subarray(o, o + WRITE_CHUNK))) await once(s, 'drain')
  }
  const finished = once(s, 'finish')
  s.end()
  await finished
}

/** Reads the payload, waits for 'go', then connects, writes it all and waits until it is flushed (TCP) or acknowledged (uTP). */
export async function send(cfg: SenderConfig): Promise<void> {
  const data = readFileSync(cfg.file)
  let socket: UdpSocket | undefined
  if (cfg.transport === 'utp') {
    socket = await UdpSocket.open({
      host: '127.0.0.1',
      recvBufferSize: cfg.buffers,
      sendBufferSize: cfg.buffers,
    })
  }
  post({ type: 'ready', buffers: socket?.bufferSizes() })
  await new Promise<void>((resolve) =>
    process.on('message', (m: ParentMessage) => {
      if (m.type === 'go') resolve()
    }),
  )
  const cpuStart = process.cpuUsage()
  let statsOf: () => LinkStats | undefined = () => undefined
  const progress = setInterval(() => post({ type: 'progress', bytes: 0, stats: statsOf() }), 1000)
  try {
    let stream: Duplex
    if (socket) {
      const endpoint = new UtpEndpoint(socket)
      const s = await endpoint.connect({ address: '127.0.0.1', port: cfg.port, family: 'IPv4' })
      statsOf = () => linkStats(s)
      stream = s
    } else {
      const s = tcpConnect(cfg.port, '127.0.0.1')
      await once(s, 'connect')
      stream = s
    }
    // Reading keeps the peer's FIN (and any reply) from piling up.
    stream.resume()
    await writeAll(stream, data)
    const cpu = cpuSince(cpuStart)
    post({ type: 'sent', bytes: data.length, cpu, stats: statsOf() })
  } catch (err) {
    post({ type: 'error', message: `sender: ${(err as Error).message}`, stats: statsOf() })
  } finally {
    clearInterval(progress)
  }
}

// The parent asks a worker to exit when a run is over (so a --cpu-prof profile gets written) and
// kills it by PID if it does not; if the parent itself dies, go too.
process.on('disconnect', () => process.exit(1))
process.on('message', (m: ParentMessage) => {
  if (m.type === 'exit') process.exit(0)
})
const config = JSON.parse(process.argv[2] ?? '{}') as ReceiverConfig | SenderConfig
if (config.role === 'recv') await receive(config)
else if (config.role === 'send') await send(config)
else throw new Error('worker.js is started by bench/utp/run.js')
