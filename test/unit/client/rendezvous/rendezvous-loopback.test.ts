import { createSocket, type Socket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { realClock, realRandom } from '../../../../client/real-clock.js'
import { RendezvousClient } from '../../../../client/rendezvous/rendezvous-client.js'
import type {
  DatagramSocket,
  DatagramSocketEvents,
  UdpAddress,
} from '../../../../protocol/datagram-socket.js'
import { RendezvousService } from '../../../../tracker/rendezvous/rendezvous-service.js'

/** node:dgram as a DatagramSocket, enough for this loopback test. */
class LoopbackSocket extends EventEmitter<DatagramSocketEvents> implements DatagramSocket {
  private constructor(readonly raw: Socket) {
    super()
    raw.on('message', (m, r) => this.emit('message', new Uint8Array(m), { address: r.address, port: r.port }))
  }
  static async open(): Promise<LoopbackSocket> {
    const raw = createSocket('udp4')
    await new Promise<void>((resolve) => raw.bind(0, '127.0.0.1', resolve))
    return new LoopbackSocket(raw)
  }
  send(bytes: Uint8Array, to: UdpAddress): void {
    this.raw.send(bytes, to.port, to.address)
  }
  address(): UdpAddress {
    const a = this.raw.address()
    return { address: a.address, port: a.port }
  }
  setTTL(ttl: number): void {
    this.raw.setTTL(ttl)
  }
  close(): void {
    this.raw.close()
  }
}

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function setup() {
  const main = await LoopbackSocket.open()
  const service = new RendezvousService(
    { secret: new Uint8Array(32).fill(1), host: '127.0.0.1', altPort: 0 },
    { clock: realClock, random: realRandom },
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
    const socket = await LoopbackSocket.open()
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
  return { service, infoHash, peer }
}

describe('rendezvous over loopback sockets', () => {
  it('classifies an unfiltered socket as public', async () => {
    const { peer } = await setup()
    const a = await peer(1)
    expect(await a.client.classify()).toBe('public')
    expect(a.client.observed).toMatchObject(a.socket.address())
  })

  it('relays a connect-request and both sides punch a path to each other', async () => {
    const { peer, infoHash, service } = await setup()
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
