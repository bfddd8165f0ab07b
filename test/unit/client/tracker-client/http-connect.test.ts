import { createSocket, type Socket } from 'node:dgram'
import { afterEach, describe, expect, it } from 'vitest'
import { httpConnect } from '../../../../client/tracker-client/http-connect.js'
import { httpAnnounce } from '../../../../client/tracker-client/http-tracker-client.js'
import { TrackerError } from '../../../../protocol/errors.js'
import { decodeRendezvous, encodeRendezvous } from '../../../../protocol/rendezvous/rendezvous-codec.js'
import type { RendezvousMessage } from '../../../../protocol/rendezvous/rendezvous-messages.js'
import { type RunningTracker, startTracker } from '../../../../tracker/tracker-server.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const swarm = new Uint8Array(20).fill(0x51)

/** One peer: a UDP socket, an announce that brings a token, and a registration from the socket. */
async function peer(tracker: RunningTracker, n: number) {
  const peerId = new Uint8Array(20).fill(n)
  const socket: Socket = createSocket('udp4')
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r))
  cleanups.push(() => new Promise<void>((r) => socket.close(() => r())))
  const received: RendezvousMessage[] = []
  socket.on('message', (m) => received.push(decodeRendezvous(m)))
  const next = (type: RendezvousMessage['type']) =>
    new Promise<RendezvousMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} within 5 s`)), 5000)
      const look = () => {
        const m = received.find((x) => x.type === type)
        if (!m) return
        clearTimeout(timer)
        socket.off('message', look)
        resolve(m)
      }
      socket.on('message', look)
      look()
    })
  const res = await httpAnnounce(tracker.announceUrl, {
    infoHash: swarm,
    peerId,
    port: socket.address().port,
    uploaded: 0,
    downloaded: 0,
    left: 1,
    event: 'started',
    rendezvous: true,
  })
  const token = res.rendezvous!.token
  const register = encodeRendezvous({
    type: 'register',
    txid: n,
    infoHash: swarm,
    peerId,
    token,
    natClass: 'cone',
    rttMs: 1,
  })
  socket.send(register, tracker.udpPort, '127.0.0.1')
  await next('registerAck')
  return { peerId, token, port: socket.address().port, next }
}

describe('httpConnect (real tracker, real sockets)', () => {
  it('gets the target endpoint over HTTP while the tracker pushes the request to the target over UDP', async () => {
    const tracker = await startTracker({ host: '127.0.0.1', port: 0, altPort: undefined })
    cleanups.push(() => tracker.close())
    const r = await peer(tracker, 1)
    const g = await peer(tracker, 2)
    const answer = await httpConnect(tracker.announceUrl, {
      infoHash: swarm,
      peerId: r.peerId,
      token: r.token,
      targetPeerId: g.peerId,
    })
    expect(answer.target).toMatchObject({ address: '127.0.0.1', port: g.port })
    const push = await g.next('connectPush')
    if (push.type !== 'connectPush') throw new Error('expected a push')
    expect(push.requester.port).toBe(r.port)
    expect(Array.from(push.requesterPeerId)).toEqual(Array.from(r.peerId))
    expect(Array.from(push.nonce)).toEqual(Array.from(answer.nonce))
    // A refusal is a typed error carrying the rendezvous error name.
    const refused = await httpConnect(tracker.announceUrl, {
      infoHash: swarm,
      peerId: r.peerId,
      token: g.token,
      targetPeerId: g.peerId,
    }).catch((err: unknown) => err)
    expect(refused).toBeInstanceOf(TrackerError)
    expect(refused).toMatchObject({ code: 'TRACKER_FAILURE_REASON', cause: 'badToken' })
  })
})
