import { realClock, realRandom } from '../../../client/real-clock.js'
import { RendezvousClient } from '../../../client/rendezvous/rendezvous-client.js'
import { httpAnnounce } from '../../../client/tracker-client/http-tracker-client.js'
import { UdpSocket } from '../../../client/udp-socket.js'
import type { PunchOptions } from '../../../protocol/punch/punch-plan.js'
import type { WireNatClass } from '../../../protocol/rendezvous/rendezvous-messages.js'

export interface RendezvousPeerOptions {
  /** The tracker's HTTP announce URL. */
  tracker: string
  infoHash: Uint8Array
  peerId: Uint8Array
  /** `left` in the announce: 0 for a seeder. */
  left: number
  punch?: PunchOptions
}

/** A peer on one fresh UDP socket (a fresh NAT mapping), announced, classified and registered. */
export interface RendezvousPeer {
  socket: UdpSocket
  client: RendezvousClient
  natClass: WireNatClass
  /** Closes the client, the socket and every extra socket it opened for birthday probing. */
  close(): void
}

/**
 * Joins the rendezvous the way a punchswarm client does: announces over HTTP asking for the rendezvous
 * extension, classifies its NAT from its one UDP socket, and registers that socket's public endpoint.
 */
export async function joinRendezvous(o: RendezvousPeerOptions): Promise<RendezvousPeer> {
  const socket = await UdpSocket.open({ host: '0.0.0.0' })
  const extra: UdpSocket[] = []
  let client: RendezvousClient | undefined
  const close = () => {
    client?.stop()
    for (const s of [socket, ...extra]) s.close()
  }
  try {
    const res = await httpAnnounce(o.tracker, {
      infoHash: o.infoHash,
      peerId: o.peerId,
      port: socket.address().port,
      uploaded: 0,
      downloaded: 0,
      left: o.left,
      event: 'started',
      rendezvous: true,
    })
    if (!res.rendezvous) throw new Error('no rendezvous offer in the announce response')
    const trackerHost = new URL(o.tracker).hostname
    client = new RendezvousClient(
      {
        tracker: { address: trackerHost, port: res.rendezvous.udpPort },
        altTracker: res.rendezvous.altPort
          ? { address: trackerHost, port: res.rendezvous.altPort }
          : undefined,
        peerId: o.peerId,
        punch: o.punch,
      },
      {
        socket,
        clock: realClock,
        random: realRandom,
        openSocket: async () => {
          const s = await UdpSocket.open({ host: '0.0.0.0' })
          extra.push(s)
          return s
        },
      },
    )
    const natClass = await client.classify()
    await client.register(o.infoHash, res.rendezvous.token)
    return { socket, client, natClass, close }
  } catch (err) {
    close()
    throw err
  }
}
