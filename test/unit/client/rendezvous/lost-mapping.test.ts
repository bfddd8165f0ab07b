import { afterEach, describe, expect, it } from 'vitest'
import { realClock, realRandom } from '../../../../client/real-clock.js'
import { RendezvousClient } from '../../../../client/rendezvous/rendezvous-client.js'
import { UdpSocket } from '../../../../client/udp-socket.js'
import type { UdpAddress } from '../../../../protocol/datagram-socket.js'
import { decodeRendezvous, encodeRendezvous } from '../../../../protocol/rendezvous/rendezvous-codec.js'
import type { Register } from '../../../../protocol/rendezvous/rendezvous-messages.js'
import { until } from '../../../helpers/until.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/**
 * A tracker's rendezvous port that answers registers the way the test says: acknowledging them with
 * the endpoint it claims to observe (a router that remapped us shows a new one), or refusing the token
 * (a tracker restarted with a new secret).
 */
async function scriptedTracker() {
  const socket = await UdpSocket.open({ host: '127.0.0.1' })
  cleanups.push(() => socket.close())
  const t = {
    address: socket.address(),
    registers: [] as Register[],
    observed: { address: '198.51.100.7', port: 5000 } as UdpAddress,
    refuse: false,
  }
  socket.on('message', (bytes, from) => {
    const msg = decodeRendezvous(bytes)
    if (msg.type !== 'register') return
    t.registers.push(msg)
    const answer = t.refuse
      ? ({ type: 'error', txid: msg.txid, code: 'badToken', message: 'invalid token' } as const)
      : ({ type: 'registerAck', txid: msg.txid, observed: t.observed, keepaliveSeconds: 15 } as const)
    socket.send(encodeRendezvous(answer), from)
  })
  return t
}

async function clientOf(tracker: UdpAddress) {
  const socket = await UdpSocket.open({ host: '127.0.0.1' })
  const client = new RendezvousClient(
    { tracker, peerId: new Uint8Array(20).fill(3) },
    { socket, clock: realClock, random: realRandom },
  )
  cleanups.push(
    () => socket.close(),
    () => client.stop(),
  )
  return client
}

const swarmA = new Uint8Array(20).fill(0xa)
const swarmB = new Uint8Array(20).fill(0xb)
const token = Uint8Array.of(1, 2, 3, 4)
describe('rendezvous client: a lost mapping', () => {
  it('a keepalive answered with a new observed endpoint reports mappingChanged and re-registers every swarm at once', async () => {
    const tracker = await scriptedTracker()
    const client = await clientOf(tracker.address)
    await client.register(swarmA, token)
    await client.register(swarmB, token)
    expect(tracker.registers).toHaveLength(2)
    // The same token again while the registration lives: nothing is sent.
    await client.register(swarmA, token)
    expect(tracker.registers).toHaveLength(2)
    const changed = new Promise<UdpAddress>((r) => client.once('mappingChanged', r))
    tracker.observed = { address: '198.51.100.7', port: 40001 }
    // (mapping checks of one registration are at least MAPPING_CHECK_MIN_MS apart)
    await new Promise((r) => setTimeout(r, 2_100))
    // A punched path fell silent: the client checks its mapping now rather than at the next keepalive.
    client.checkMapping()
    expect(await changed).toMatchObject({ address: '198.51.100.7', port: 40001 })
    expect(client.observed).toMatchObject({ address: '198.51.100.7', port: 40001 })
    await until(() => tracker.registers.length >= 4)
    const hashes = tracker.registers.slice(2).map((r) => Buffer.from(r.infoHash).toString('hex'))
    expect(hashes.sort()).toEqual([swarmA, swarmB].map((h) => Buffer.from(h).toString('hex')).sort())
  })

  it('a refused token asks for a fresh one, and the fresh one registers at once', async () => {
    const tracker = await scriptedTracker()
    const client = await clientOf(tracker.address)
    await client.register(swarmA, token)
    const refused = new Promise<Uint8Array>((r) => client.once('registrationRefused', r))
    client.on('trackerError', () => {})
    tracker.refuse = true
    await new Promise((r) => setTimeout(r, 2_100))
    client.checkMapping()
    expect(Buffer.from(await refused)).toEqual(Buffer.from(swarmA))
    expect(client.needsToken(swarmA)).toBe(true)
    tracker.refuse = false
    const fresh = Uint8Array.of(9, 9, 9, 9)
    await client.register(swarmA, fresh)
    expect(client.needsToken(swarmA)).toBe(false)
    expect(Buffer.from(tracker.registers.at(-1)!.token)).toEqual(Buffer.from(fresh))
  })
})
