import { createHash } from 'node:crypto'
import { UtpEndpoint } from '../../../client/utp/utp-endpoint.js'
import { joinRendezvous } from './rendezvous-peer.js'

/**
 * One peer of a NAT-lab punch test, run inside a namespace: announces (asking for the rendezvous
 * extension), classifies its NAT, registers its one UDP socket, and then either waits for a punch and
 * serves `bytes` seeded bytes over uTP (target), or asks the tracker to connect it to the target,
 * punches, and reads them over uTP through the hole (requester). Prints JSON lines.
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
  const { socket, client, natClass, close } = await joinRendezvous({
    tracker: o.tracker,
    infoHash,
    peerId: Buffer.from(o.peerId, 'hex'),
    left: o.role === 'target' ? 0 : o.bytes,
  })
  out('registered', { natClass, observed: client.observed, local: socket.address() })
  const utp = new UtpEndpoint(socket)
  const data = payload(o.bytes)
  if (o.role === 'target') {
    utp.listen()
    client.on('punched', (path) => out('punched', { address: path.address }))
    utp.on('connection', (stream) => {
      out('connection', { from: `${stream.remoteAddress}:${stream.remotePort}` })
      stream.on('error', () => {})
      stream.end(data)
    })
    return // serves until killed
  }
  const started = performance.now()
  const path = await client.connect(infoHash, Buffer.from(o.targetPeerId!, 'hex'), {
    signal: AbortSignal.timeout(15_000),
  })
  const punchedMs = performance.now() - started
  out('punched', { address: path.address, ms: punchedMs })
  // From behind a symmetric NAT the hole may belong to one of the extra birthday sockets: uTP runs on
  // whichever socket the punch succeeded from, since the NAT mapping is that socket's.
  const endpoint = path.socket === socket ? utp : new UtpEndpoint(path.socket)
  const stream = await endpoint.connect(path.address, { signal: AbortSignal.timeout(10_000) })
  const chunks: Buffer[] = []
  stream.on('data', (d: Buffer) => chunks.push(d))
  await new Promise<void>((resolve, reject) => {
    stream.once('end', resolve)
    stream.once('error', reject)
  })
  const got = Buffer.concat(chunks)
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
  out('done', { bytes: got.length, match: sha(got) === sha(data), ms: performance.now() - started })
  stream.destroy()
  utp.close()
  close()
}

main().catch((err: Error) => {
  out('error', { message: err.message, code: (err as { code?: string }).code })
  process.exitCode = 1
})
