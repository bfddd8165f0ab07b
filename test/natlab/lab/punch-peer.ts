import { createHash } from 'node:crypto'
import { realClock, realRandom } from '../../../client/real-clock.js'
import { RendezvousClient } from '../../../client/rendezvous/rendezvous-client.js'
import { httpAnnounce } from '../../../client/tracker-client/http-tracker-client.js'
import { UdpSocket } from '../../../client/udp-socket.js'
import { UtpEndpoint } from '../../../client/utp/utp-endpoint.js'

/**
 * One peer of a NAT-lab punch test, run inside a namespace: announces (asking for the rendezvous
 * extension), classifies its NAT, registers its one UDP socket, and then either waits for a punch and
 * serves `bytes` seeded bytes over uTP (target), or asks the tracker to connect it to the target,
 * punches, and reads them over uTP through the hole (requester). Prints JSON lines: classified,
 * registered, punched (with the strategy), done (with the time to the first uTP byte) or error.
 *
 * Usage: node punch-peer.js '{"role":"target"|"requester","tracker":"http://...","infoHash":hex,
 *   "peerId":hex,"targetPeerId"?:hex,"bytes":N}'
 */
interface Options {
  role: 'target' | 'requester'
  tracker: string
  infoHash: string
  peerId: string
  targetPeerId?: string
  bytes: number
}

const o = JSON.parse(process.argv[2]!) as Options
const out = (event: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`)

function payload(n: number): Buffer {
  const b = Buffer.alloc(n)
  let x = 0x9e3779b9
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = x & 0xff
  }
  return b
}

async function main(): Promise<void> {
  const infoHash = Buffer.from(o.infoHash, 'hex')
  const peerId = Buffer.from(o.peerId, 'hex')
  const socket = await UdpSocket.open({ host: '0.0.0.0' })
  const res = await httpAnnounce(o.tracker, {
    infoHash,
    peerId,
    port: socket.address().port,
    uploaded: 0,
    downloaded: 0,
    left: o.role === 'target' ? 0 : o.bytes,
    event: 'started',
    rendezvous: true,
  })
  if (!res.rendezvous) throw new Error('no rendezvous offer in the announce response')
  const trackerHost = new URL(o.tracker).hostname
  const client = new RendezvousClient(
    {
      tracker: { address: trackerHost, port: res.rendezvous.udpPort },
      altTracker: res.rendezvous.altPort ? { address: trackerHost, port: res.rendezvous.altPort } : undefined,
      peerId,
    },
    { socket, clock: realClock, random: realRandom, openSocket: () => UdpSocket.open({ host: '0.0.0.0' }) },
  )
  client.on('trackerError', (err) =>
    out('trackerError', { message: (err as Error).message, code: (err as { code?: string }).code }),
  )
  const natClass = await client.classify()
  out('classified', { natClass, observed: client.observed, lan: client.lan })
  await client.register(infoHash, res.rendezvous.token)
  out('registered', { natClass, observed: client.observed, local: socket.address() })
  const utp = new UtpEndpoint(socket)
  const data = payload(o.bytes)
  if (o.role === 'target') {
    const serve = (endpoint: UtpEndpoint) =>
      endpoint.listen().on('connection', (stream) => {
        out('connection', { from: `${stream.remoteAddress}:${stream.remotePort}` })
        stream.on('error', () => {})
        stream.end(data)
      })
    serve(utp)
    client.on('punched', (path) => {
      out('punched', { address: path.address, strategy: path.strategy, ms: path.elapsedMs })
      // Behind a symmetric NAT the hole may belong to an extra birthday socket: the SYN comes there.
      if (path.socket !== socket) serve(new UtpEndpoint(path.socket))
    })
    client.on('punchFailed', (err) => out('punchFailed', { message: err.message, code: err.code }))
    return // serves until killed
  }
  const started = performance.now()
  const path = await client.connect(infoHash, Buffer.from(o.targetPeerId!, 'hex'), {
    signal: AbortSignal.timeout(15_000),
  })
  const punchedMs = performance.now() - started
  out('punched', { address: path.address, ms: punchedMs, strategy: path.strategy })
  // From behind a symmetric NAT the hole may belong to one of the extra birthday sockets: uTP runs on
  // whichever socket the punch succeeded from, since the NAT mapping is that socket's.
  const endpoint = path.socket === socket ? utp : new UtpEndpoint(path.socket)
  const stream = await endpoint.connect(path.address, { signal: AbortSignal.timeout(10_000) })
  const chunks: Buffer[] = []
  let firstByteMs: number | undefined
  stream.on('data', (d: Buffer) => {
    firstByteMs ??= performance.now() - started
    chunks.push(d)
  })
  await new Promise<void>((resolve, reject) => {
    stream.once('end', resolve)
    stream.once('error', reject)
  })
  const got = Buffer.concat(chunks)
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
  out('done', {
    bytes: got.length,
    match: sha(got) === sha(data),
    firstByteMs,
    ms: performance.now() - started,
  })
  stream.destroy()
  client.stop()
  utp.close()
  socket.close()
}

main().catch((err: Error) => {
  out('error', { message: err.message, code: (err as { code?: string }).code })
  process.exitCode = 1
})
