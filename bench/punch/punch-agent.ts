import { createInterface } from 'node:readline'
import { UtpEndpoint } from '../../client/utp/utp-endpoint.js'
import type { DatagramSocket } from '../../protocol/datagram-socket.js'
import { decodeRendezvous } from '../../protocol/rendezvous/rendezvous-codec.js'
import { isRendezvous } from '../../protocol/udp-framing.js'
import { joinRendezvous, type RendezvousPeer } from '../../test/natlab/lab/rendezvous-peer.js'
import type { AgentCommand } from './agent-messages.js'

/**
 * One side of the punch bench, run inside a NAT-lab site's namespace. It takes JSON commands on stdin
 * and answers JSON lines on stdout. Every attempt gets a peer of its own on a fresh UDP socket (so a
 * fresh NAT mapping): `prepare` announces, classifies and registers it; a target then serves a few
 * bytes over uTP to whoever punches to it, a requester punches to a target on `connect` and reads them.
 * Times are milliseconds on a clock every process on the machine shares (timeOrigin + now).
 */
const SERVED_BYTES = 16 * 1024
const CONNECT_TIMEOUT_MS = 15_000
const UTP_TIMEOUT_MS = 10_000

const now = () => performance.timeOrigin + performance.now()
const out = (event: string, fields: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`)

interface Attempt {
  peer: RendezvousPeer
  endpoints: UtpEndpoint[]
}

const attempts = new Map<number, Attempt>()

function close(id: number): void {
  const a = attempts.get(id)
  if (!a) return
  attempts.delete(id)
  for (const e of a.endpoints) e.close()
  a.peer.close()
}

/** A target: serve SERVED_BYTES over uTP on whichever socket the punch succeeded from. */
function serve(id: number, a: Attempt): void {
  const listen = (socket: DatagramSocket) => {
    const endpoint = new UtpEndpoint(socket).listen()
    a.endpoints.push(endpoint)
    endpoint.on('connection', (stream) => {
      out('connection', { id, t: now() })
      stream.on('error', () => {})
      stream.end(Buffer.alloc(SERVED_BYTES, 0x5a))
    })
  }
  listen(a.peer.socket)
  // When the push arrived (the first copy: the tracker resends it until acknowledged).
  let pushed = false
  a.peer.socket.on('message', (b: Uint8Array) => {
    if (pushed || !isRendezvous(b)) return
    try {
      if (decodeRendezvous(b).type !== 'connectPush') return
    } catch {
      return
    }
    pushed = true
    out('push', { id, t: now() })
  })
  a.peer.client.on('punched', (path) => {
    out('punched', { id, t: now(), extraSocket: path.socket !== a.peer.socket })
    if (path.socket !== a.peer.socket) listen(path.socket)
  })
  a.peer.client.on('punchFailed', (err) => out('punchFailed', { id, t: now(), code: err.code }))
}

/** A requester: connect-request, punch, uTP over the punched path, until the first byte and the end. */
async function request(id: number, a: Attempt, infoHash: Buffer, targetPeerId: Buffer): Promise<void> {
  const t0 = now()
  let tPunched: number | undefined
  try {
    const path = await a.peer.client.connect(infoHash, targetPeerId, {
      signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS),
    })
    tPunched = now()
    const endpoint = new UtpEndpoint(path.socket)
    a.endpoints.push(endpoint)
    const synAt = now()
    const stream = await endpoint.connect(path.address, { signal: AbortSignal.timeout(UTP_TIMEOUT_MS) })
    const utpRttMs = now() - synAt
    let tFirstByte: number | undefined
    let bytes = 0
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('uTP stream did not end')), UTP_TIMEOUT_MS)
      stream.on('data', (d: Buffer) => {
        tFirstByte ??= now()
        bytes += d.length
      })
      stream.once('end', () => {
        clearTimeout(timer)
        resolve()
      })
      stream.once('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
    stream.destroy()
    out('result', {
      id,
      ok: bytes === SERVED_BYTES,
      t0,
      tPunched,
      tFirstByte,
      utpRttMs,
      trackerRttMs: a.peer.client.rttMs,
      extraSocket: path.socket !== a.peer.socket,
      bytes,
    })
  } catch (err) {
    const e = err as { code?: string; name?: string; message?: string }
    out('result', { id, ok: false, t0, tPunched, tEnd: now(), code: e.code ?? e.name, message: e.message })
  }
}

async function onCommand(c: AgentCommand): Promise<void> {
  switch (c.op) {
    case 'prepare': {
      try {
        const peer = await joinRendezvous({
          tracker: c.tracker,
          infoHash: Buffer.from(c.infoHash, 'hex'),
          peerId: Buffer.from(c.peerId, 'hex'),
          left: c.role === 'target' ? 0 : 1,
          punch: c.punch,
        })
        const a: Attempt = { peer, endpoints: [] }
        attempts.set(c.id, a)
        if (c.role === 'target') serve(c.id, a)
        out('ready', { id: c.id, natClass: peer.natClass, observed: peer.client.observed })
      } catch (err) {
        out('prepareFailed', { id: c.id, message: (err as Error).message })
      }
      break
    }
    case 'connect': {
      const a = attempts.get(c.id)
      if (a) await request(c.id, a, Buffer.from(c.infoHash, 'hex'), Buffer.from(c.targetPeerId, 'hex'))
      else out('result', { id: c.id, ok: false, code: 'NOT_PREPARED' })
      break
    }
    case 'close':
      close(c.id)
      out('closed', { id: c.id })
      break
  }
}

const rl = createInterface({ input: process.stdin })
rl.on('line', (line) => {
  onCommand(JSON.parse(line) as AgentCommand).catch((err: Error) =>
    out('agentError', { message: err.message }),
  )
})
// The bench closes stdin when it is done: close everything and exit.
rl.on('close', () => {
  for (const id of [...attempts.keys()]) close(id)
  process.exit(0)
})
