import { afterEach, describe, expect, it } from 'vitest'
import { realClock, realRandom } from '../../../../client/real-clock.js'
import { RendezvousClient } from '../../../../client/rendezvous/rendezvous-client.js'
import { httpAnnounce } from '../../../../client/tracker-client/http-tracker-client.js'
import { UdpSocket } from '../../../../client/udp-socket.js'
import { type RunningTracker, startTracker } from '../../../../tracker/tracker-server.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const infoHash = new Uint8Array(20).fill(0x33)
const announce = (t: RunningTracker, peerId: Uint8Array, rendezvous: boolean) =>
  httpAnnounce(t.announceUrl, {
    infoHash,
    peerId,
    port: 7000,
    uploaded: 0,
    downloaded: 0,
    left: 1,
    rendezvous,
  })

describe('the rendezvous offer in announce answers', () => {
  it('is given only to clients that ask, and lists registered peers that cannot be dialled', async () => {
    const tracker = await startTracker({ host: '127.0.0.1', port: 0 })
    cleanups.push(() => tracker.close())
    const a = new Uint8Array(20).fill(1)
    const b = new Uint8Array(20).fill(2)
    expect((await announce(tracker, a, false)).rendezvous).toBeUndefined()
    const offer = (await announce(tracker, a, true)).rendezvous!
    expect(offer.token).toHaveLength(20)
    expect(offer.udpPort).toBe(tracker.udpPort)
    expect(offer.altPort).toBe(tracker.altPort)

    // Peer a registers as a cone-NATed peer (it is on loopback, so it says so itself).
    const socket = await UdpSocket.open({ host: '127.0.0.1' })
    const client = new RendezvousClient(
      { tracker: { address: '127.0.0.1', port: offer.udpPort }, peerId: a },
      { socket, clock: realClock, random: realRandom },
    )
    cleanups.push(
      () => socket.close(),
      () => client.stop(),
    )
    client.natClass = 'cone'
    await client.register(infoHash, offer.token)

    const seenByB = (await announce(tracker, b, true)).rendezvous!
    expect(seenByB.firewalled).toEqual([
      { peerId: a, endpoint: { address: '127.0.0.1', port: socket.address().port }, natClass: 2 },
    ])
    // A peer is never offered itself.
    expect((await announce(tracker, a, true)).rendezvous!.firewalled).toEqual([])
    // The store learned a's NAT class for the stats.
    expect(tracker.store.totals().byNatClass.cone).toBe(1)
  })
})
