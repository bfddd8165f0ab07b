import { afterEach, describe, expect, it } from 'vitest'
import { realClock, realRandom } from '../../../../client/real-clock.js'
import { RendezvousClient } from '../../../../client/rendezvous/rendezvous-client.js'
import { UdpSocket } from '../../../../client/udp-socket.js'
import { UtpEndpoint } from '../../../../client/utp/utp-endpoint.js'
import type { UtpStream } from '../../../../client/utp/utp-stream.js'
import type { Clock } from '../../../../protocol/clock.js'
import type { UdpAddress } from '../../../../protocol/datagram-socket.js'
import { RendezvousService } from '../../../../tracker/rendezvous/rendezvous-service.js'
import { TrackerStats } from '../../../../tracker/stats/tracker-stats.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function setup() {
  const main = await UdpSocket.open({ host: '127.0.0.1' })
  const stats = new TrackerStats({ clock: realClock })
  const service = new RendezvousService(
    { secret: new Uint8Array(32).fill(1), host: '127.0.0.1', altPort: 0 },
    { clock: realClock, random: realRandom, stats },
  )
  await service.start((bytes, to) => main.send(bytes, to))
  main.on('message', (b, from) => service.handle(b, from))
  cleanups.push(
    () => main.close(),
    () => service.stop(),
  )
  const tracker = main.address()
  const alt = { address: '127.0.0.1', port: service.altPort()! }
  const infoHash = new Uint8Array(20).fill(0x42)
  const peer = async (fill: number) => {
    const socket = await UdpSocket.open({ host: '127.0.0.1' })
    const peerId = new Uint8Array(20).fill(fill)
    const client = new RendezvousClient(
      { tracker, altTracker: alt, peerId },
      { socket, clock: realClock, random: realRandom },
    )
    cleanups.push(
      () => socket.close(),
      () => client.stop(),
    )
    const token = service.issueToken(infoHash, peerId, '127.0.0.1')
    return { socket, client, peerId, token }
  }
  return { service, infoHash, peer, stats, tracker, alt }
}

describe('rendezvous over loopback sockets', () => {
  it('classifies an unfiltered socket as public', async () => {
    const { peer } = await setup()
    const a = await peer(1)
    expect(await a.client.classify()).toBe('public')
    expect(a.client.observed).toMatchObject(a.socket.address())
  })

  it('compares a socket bound to every interface by the address its route uses, and learns it as the LAN endpoint', async () => {
    const { tracker, alt } = await setup()
    const wide = await UdpSocket.open({ host: '0.0.0.0' })
    const client = new RendezvousClient(
      { tracker, altTracker: alt, peerId: new Uint8Array(20).fill(9) },
      { socket: wide, clock: realClock, random: realRandom },
    )
    cleanups.push(
      () => wide.close(),
      () => client.stop(),
    )
    expect(await client.classify()).toBe('public')
    expect(client.lan).toEqual({ address: '127.0.0.1', port: wide.address().port, family: 'IPv4' })
  })

  it('calls a socket whose datagrams never reach the tracker blocked, and its connect fails with PUNCH_NEEDS_RELAY without sending', async () => {
    const silent = await UdpSocket.open({ host: '127.0.0.1' }) // a tracker that never answers
    const socket = await UdpSocket.open({ host: '127.0.0.1' })
    // Retries come at once instead of after 0.4 to 3.2 s.
    const hurried: Clock = { ...realClock, setTimer: (_ms, fn) => realClock.setTimer(0, fn) }
    const client = new RendezvousClient(
      { tracker: silent.address(), altTracker: silent.address(), peerId: new Uint8Array(20).fill(3) },
      { socket, clock: hurried, random: realRandom },
    )
    cleanups.push(
      () => silent.close(),
      () => socket.close(),
      () => client.stop(),
    )
    expect(await client.classify()).toBe('blocked')
    let received = 0
    silent.on('message', () => received++)
    await expect(
      client.connect(new Uint8Array(20).fill(0x42), new Uint8Array(20).fill(4)),
    ).rejects.toMatchObject({ code: 'PUNCH_NEEDS_RELAY' })
    await new Promise((r) => setTimeout(r, 50))
    expect(received).toBe(0)
  })

  it('relays a connect-request and both sides punch a path to each other', async () => {
    const { peer, infoHash, service, stats } = await setup()
    const a = await peer(1)
    const b = await peer(2)
    await a.client.classify()
    await b.client.classify()
    await a.client.register(infoHash, a.token)
    await b.client.register(infoHash, b.token)
    expect(service.relay.registrationCount).toBe(2)

    const targetSide = new Promise((resolve) => b.client.once('punched', resolve))
    const path = await a.client.connect(infoHash, b.peerId, { signal: AbortSignal.timeout(5000) })
    expect(path.address).toMatchObject(b.socket.address())
    expect(path.role).toBe('requester')
    expect(path.socket).toBe(a.socket)
    const other = (await targetSide) as { address: UdpAddress; role: string }
    expect(other.address).toMatchObject(a.socket.address())
    expect(other.role).toBe('target')
    // Both sides report the outcome; the tracker counts the punch once.
    await expect.poll(() => stats.punches).toEqual({ attempt: 1, success: 1, failure: 0 })
  })

  it('carries a uTP stream over the punched path, on the same sockets the rendezvous still uses', async () => {
    const { peer, infoHash } = await setup()
    const a = await peer(1)
    const b = await peer(2)
    for (const p of [a, b]) {
      await p.client.classify()
      await p.client.register(infoHash, p.token)
    }
    const utpA = new UtpEndpoint(a.socket)
    const utpB = new UtpEndpoint(b.socket).listen()
    cleanups.push(
      () => utpA.close(),
      () => utpB.close(),
    )
    const accepted = new Promise<UtpStream>((resolve) => utpB.once('connection', resolve))
    const path = await a.client.connect(infoHash, b.peerId, { signal: AbortSignal.timeout(5000) })
    // The requester dials the punched address from the punched socket.
    const out = await utpA.connect(path.address, { signal: AbortSignal.timeout(5000) })
    const inc = await accepted
    const received: Buffer[] = []
    inc.on('data', (d: Buffer) => received.push(d))
    const payload = Buffer.alloc(300_000, 7)
    out.end(payload)
    await new Promise((resolve) => inc.once('end', resolve))
    expect(Buffer.concat(received).equals(payload)).toBe(true)
    // The rendezvous client shares the socket undisturbed: its binding requests still get answers.
    await expect(a.client.classify()).resolves.toBe('public')
  })

  it('refuses a registration with a token issued to another peer', async () => {
    const { peer, infoHash } = await setup()
    const a = await peer(1)
    const b = await peer(2)
    const errors: unknown[] = []
    a.client.on('trackerError', (e) => errors.push(e))
    await a.client.register(infoHash, b.token)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ code: 'PUNCH_TOKEN_INVALID' })
  })

  it('fails a connect-request for a peer that never registered', async () => {
    const { peer, infoHash } = await setup()
    const a = await peer(1)
    await a.client.register(infoHash, a.token)
    await expect(a.client.connect(infoHash, new Uint8Array(20).fill(9))).rejects.toMatchObject({
      code: 'PUNCH_TARGET_UNKNOWN',
    })
  })
})
