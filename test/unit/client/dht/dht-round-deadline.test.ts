import { afterEach, expect, it } from 'vitest'
import { DHT_RETRY_MS, DHT_ROUND_DEADLINE_MS, DhtNode } from '../../../../client/dht/dht-node.js'
import { UdpSocket } from '../../../../client/udp-socket.js'
import { VirtualClock } from '../../../sim/virtual-clock.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

type LookupCallback = (err: Error | null, nodes?: number) => void
/** The library under the node, reached to make it lose a callback as a throw inside it would. */
interface Library {
  lookup(infoHash: Uint8Array, cb: LookupCallback): void
  announce(infoHash: Uint8Array, port: number, cb: (err: Error | null) => void): void
}

it('a round whose lookup never calls back ends at its deadline, and the announces go on', async () => {
  const socket = await UdpSocket.open({ host: '127.0.0.1' })
  cleanups.push(() => socket.close())
  const clock = new VirtualClock()
  // A DHT of its own (no bootstrap): nothing leaves the machine.
  const node = new DhtNode(socket, { bootstrap: [] }, clock)
  cleanups.push(() => node.close())
  const library = (node as unknown as { dht: Library }).dht
  const lost: LookupCallback[] = []
  library.lookup = (_hash, cb) => {
    lost.push(cb) // never called: the round hangs
  }
  library.announce = (_hash, _port, cb) => cb(null)
  const rounds: number[] = []
  node.on('announced', (_hex, { nodes }) => rounds.push(nodes))

  node.track(new Uint8Array(20).fill(7), { port: 0, downloading: () => true })
  expect(lost).toHaveLength(1)
  clock.advance(DHT_ROUND_DEADLINE_MS - 1)
  expect(rounds).toEqual([])
  clock.advance(1)
  // Counted as a round that reached nobody, so it is retried soon.
  expect(rounds).toEqual([0])

  library.lookup = (_hash, cb) => cb(null, 3)
  clock.advance(DHT_RETRY_MS)
  expect(rounds).toEqual([0, 3])
  // The first round's callback, arriving late, changes nothing.
  lost[0]!(null, 5)
  expect(rounds).toEqual([0, 3])
  // The next round is on the normal schedule, not at the old round's deadline.
  expect(clock.pending()).toBe(1)
})
