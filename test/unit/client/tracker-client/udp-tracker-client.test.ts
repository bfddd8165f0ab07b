import { afterEach, describe, expect, it } from 'vitest'
import { realClock, realRandom } from '../../../../client/real-clock.js'
import { TrackerAnnouncer } from '../../../../client/tracker-client/tracker-announcer.js'
import {
  UdpTrackerClient,
  type UdpTrackerClientOptions,
} from '../../../../client/tracker-client/udp-tracker-client.js'
import { UdpSocket } from '../../../../client/udp-socket.js'
import {
  type Bep15Response,
  decodeBep15Request,
  encodeBep15Response,
} from '../../../../protocol/bep15/bep15-codec.js'
import type { UdpAddress } from '../../../../protocol/datagram-socket.js'
import type { TrackerError } from '../../../../protocol/errors.js'
import { classifyClientDatagram, RENDEZVOUS_MAGIC } from '../../../../protocol/udp-framing.js'
import { type StartTrackerDeps, startTracker } from '../../../../tracker/tracker-server.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function openSocket(): Promise<UdpSocket> {
  const s = await UdpSocket.open({ host: '127.0.0.1' })
  cleanups.push(() => s.close())
  return s
}

async function tracker(deps: StartTrackerDeps = {}) {
  const t = await startTracker({ host: '127.0.0.1', port: 0, udpPort: 0 }, deps)
  cleanups.push(() => t.close())
  return t
}

/** The real clock with a `shift` that moves `now()` forward (timers stay real). */
function shiftedClock() {
  let offset = 0
  return {
    ...realClock,
    now: () => realClock.now() + offset,
    shift: (ms: number) => {
      offset += ms
    },
  }
}

/** BEP 15 action of a request the client sent: 0 connect, 1 announce, 2 scrape. */
const actionOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(8)

/** Records the actions of every datagram the socket sends; sends whose index is in `drop` are lost. */
function spy(s: UdpSocket, drop: number[] = []) {
  const sent: number[] = []
  const send = s.send.bind(s)
  s.send = (b: Uint8Array, to: UdpAddress) => {
    sent.push(actionOf(b))
    if (!drop.includes(sent.length - 1)) send(b, to)
  }
  return { sent, count: (action: number) => sent.filter((a) => a === action).length }
}

async function client(opts: UdpTrackerClientOptions = {}, clock = realClock) {
  const socket = await openSocket()
  return { socket, udp: new UdpTrackerClient({ socket, clock, random: realRandom }, opts) }
}

const hash = new Uint8Array(20).fill(0x2a)
const other = new Uint8Array(20).fill(0x2b)
const request = (id: number, port: number, over: object = {}) => ({
  infoHash: hash,
  peerId: new Uint8Array(20).fill(id),
  port,
  uploaded: 0,
  downloaded: 0,
  left: 100,
  event: 'started' as const,
  ...over,
})

/** A bound socket that answers nothing, or what `reply` says (a scripted tracker). */
async function scripted(reply: (bytes: Uint8Array, from: UdpAddress, s: UdpSocket) => void = () => {}) {
  const s = await openSocket()
  s.on('message', (b, from) => reply(b, from, s))
  return { url: `udp://127.0.0.1:${s.address().port}`, socket: s }
}

describe('UdpTrackerClient against the real tracker', () => {
  it('announces two peers that then see each other', async () => {
    const t = await tracker()
    const a = await client()
    const b = await client()
    const ra = await a.udp.announce(t.udpUrl, request(1, 7001, { left: 0 }))
    expect(ra).toMatchObject({ complete: 1, incomplete: 0, peers: [] })
    expect(ra.interval).toBeGreaterThan(0)
    const rb = await b.udp.announce(t.udpUrl, request(2, 7002))
    expect(rb).toMatchObject({ complete: 1, incomplete: 1, peers: [{ address: '127.0.0.1', port: 7001 }] })
    const again = await a.udp.announce(t.udpUrl, request(1, 7001, { left: 0, event: undefined }))
    expect(again.peers).toEqual([{ address: '127.0.0.1', port: 7002 }])
  })

  it('scrapes counts for several info hashes, resolving localhost', async () => {
    const t = await tracker()
    const a = await client()
    const b = await client()
    await a.udp.announce(t.udpUrl, request(1, 7001, { left: 0 }))
    await b.udp.announce(t.udpUrl, request(2, 7002))
    await b.udp.announce(t.udpUrl, request(2, 7002, { left: 0, event: 'completed' }))
    await a.udp.announce(t.udpUrl, request(3, 7003, { infoHash: other }))
    const url = `udp://localhost:${t.udpPort}`
    expect(await a.udp.scrape(url, [hash, other, new Uint8Array(20)])).toEqual([
      { complete: 2, downloaded: 1, incomplete: 0 },
      { complete: 0, downloaded: 0, incomplete: 1 },
      { complete: 0, downloaded: 0, incomplete: 0 },
    ])
  })

  it('event=stopped removes the peer from the swarm', async () => {
    const t = await tracker()
    const a = await client()
    const b = await client()
    await a.udp.announce(t.udpUrl, request(1, 7001))
    await b.udp.announce(t.udpUrl, request(2, 7002))
    const stopped = await a.udp.announce(t.udpUrl, request(1, 7001, { event: 'stopped' }))
    expect(stopped.peers).toEqual([])
    const rb = await b.udp.announce(t.udpUrl, request(2, 7002, { event: undefined }))
    expect(rb).toMatchObject({ incomplete: 1, peers: [] })
    expect(await b.udp.scrape(t.udpUrl, [hash])).toEqual([{ complete: 0, downloaded: 0, incomplete: 1 }])
  })

  it('reuses the connection id for a minute and reconnects after it', async () => {
    const t = await tracker()
    const clock = shiftedClock()
    const { socket, udp } = await client({}, clock)
    const s = spy(socket)
    await udp.announce(t.udpUrl, request(1, 7001))
    await udp.announce(t.udpUrl, request(1, 7001, { event: undefined }))
    await udp.scrape(t.udpUrl, [hash])
    expect(s.sent).toEqual([0, 1, 1, 2])
    clock.shift(60_001)
    await udp.announce(t.udpUrl, request(1, 7001, { event: undefined }))
    expect(s.sent).toEqual([0, 1, 1, 2, 0, 1])
  })

  it('drops a cached id the tracker refuses and retries once with a fresh one', async () => {
    // The tracker's clock runs two minutes ahead of the client's: the cached id has expired there.
    const trackerClock = shiftedClock()
    const t = await tracker({ clock: trackerClock })
    const { socket, udp } = await client()
    const s = spy(socket)
    await udp.announce(t.udpUrl, request(1, 7001))
    trackerClock.shift(121_000)
    const r = await udp.announce(t.udpUrl, request(1, 7001, { event: undefined }))
    expect(r).toMatchObject({ complete: 0, incomplete: 1 })
    expect(s.sent).toEqual([0, 1, 1, 0, 1])
  })

  it("turns an error answer into TRACKER_FAILURE_REASON with the tracker's text", async () => {
    const t = await tracker()
    const { udp } = await client()
    await expect(udp.announce(t.udpUrl, request(1, 0))).rejects.toMatchObject({
      code: 'TRACKER_FAILURE_REASON',
      message: 'invalid port',
    })
  })

  it('retransmits a lost connect and a lost announce', async () => {
    const t = await tracker()
    const { socket, udp } = await client({ baseTimeoutMs: 250 })
    const s = spy(socket, [0, 2])
    const r = await udp.announce(t.udpUrl, request(1, 7001))
    expect(r.incomplete).toBe(1)
    expect(s.sent).toEqual([0, 0, 1, 1])
  })
})

describe('UdpTrackerClient on a silent or noisy network', () => {
  it('gives up with TRACKER_UNREACHABLE after the configured retransmissions', async () => {
    const silent = await scripted()
    const { socket, udp } = await client({ baseTimeoutMs: 20, maxRetries: 3 })
    const s = spy(socket)
    const started = Date.now()
    await expect(udp.announce(silent.url, request(1, 7001))).rejects.toMatchObject({
      code: 'TRACKER_UNREACHABLE',
    })
    // 20 + 40 + 80 + 160 ms of waiting, four datagrams.
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    expect(s.sent).toEqual([0, 0, 0, 0])
    expect(socket.listenerCount('message')).toBe(0)
  })

  it('rethrows the abort reason and stops sending and listening', async () => {
    const silent = await scripted()
    const { socket, udp } = await client({ baseTimeoutMs: 20 })
    const s = spy(socket)
    const ctl = new AbortController()
    const p = udp.announce(silent.url, request(1, 7001), { signal: ctl.signal })
    await new Promise((r) => setTimeout(r, 50))
    const reason = new Error('user quit')
    ctl.abort(reason)
    await expect(p).rejects.toBe(reason)
    const sent = s.sent.length
    await new Promise((r) => setTimeout(r, 100))
    expect(s.sent.length).toBe(sent)
    expect(socket.listenerCount('message')).toBe(0)
    await expect(udp.scrape(silent.url, [hash], { signal: ctl.signal })).rejects.toBe(reason)
  })

  it('leaves uTP, rendezvous, foreign and malformed datagrams alone and keeps waiting', async () => {
    const stranger = await openSocket()
    const withTid = (head: Uint8Array, tid: number, length: number) => {
      const b = new Uint8Array(length)
      b.set(head)
      new DataView(b.buffer).setUint32(4, tid)
      return b
    }
    const connectionIds: bigint[] = []
    const fake = await scripted((bytes, from, s) => {
      const req = decodeBep15Request(bytes)
      const tid = req.transactionId
      const send = (b: Uint8Array) => s.send(b, from)
      const response = (r: Bep15Response) => encodeBep15Response(r)
      // A uTP SYN and a rendezvous message whose bytes 4..7 happen to equal the transaction id.
      send(withTid(Uint8Array.of(0x41), tid, 20))
      send(withTid(RENDEZVOUS_MAGIC, tid, 24))
      // The right answer from the wrong address, and answers for another transaction.
      const wrongTid = (tid + 1) >>> 0
      if (req.action === 'connect') {
        stranger.send(response({ action: 'connect', transactionId: tid, connectionId: 9n }), from)
        send(response({ action: 'connect', transactionId: wrongTid, connectionId: 8n }))
        send(response({ action: 'connect', transactionId: tid, connectionId: 7n }).subarray(0, 12))
        setTimeout(() => send(response({ action: 'connect', transactionId: tid, connectionId: 5n })), 20)
      } else if (req.action === 'announce') {
        connectionIds.push(req.connectionId)
        const peers = Uint8Array.of(10, 0, 0, 1, 0x1b, 0x59)
        const ok = response({
          action: 'announce',
          transactionId: tid,
          interval: 60,
          leechers: 2,
          seeders: 3,
          peers,
        })
        send(ok.subarray(0, 19))
        send(response({ action: 'scrape', transactionId: tid, files: [] }))
        setTimeout(() => send(ok), 20)
      }
    })
    const { socket, udp } = await client({ baseTimeoutMs: 5_000 })
    const seen: string[] = []
    socket.on('message', (b) => seen.push(classifyClientDatagram(b)))
    const r = await udp.announce(fake.url, request(1, 7001))
    expect(r).toEqual({
      interval: 60,
      complete: 3,
      incomplete: 2,
      peers: [{ address: '10.0.0.1', port: 7001 }],
    })
    expect(connectionIds).toEqual([5n])
    // Another listener on the shared socket still gets everything.
    expect(seen.filter((k) => k === 'utp')).toHaveLength(2)
    expect(seen.filter((k) => k === 'rendezvous')).toHaveLength(2)
    expect(socket.listenerCount('message')).toBe(1)
  })
})

describe('TrackerAnnouncer over udp://', () => {
  it('announces to the real tracker, finds the other peer, and stops', async () => {
    const t = await tracker()
    const mk = async (id: number, port: number, left: number) => {
      const a = new TrackerAnnouncer(
        {
          trackers: [[t.udpUrl]],
          infoHash: hash,
          peerId: new Uint8Array(20).fill(id),
          port,
          stats: () => ({ uploaded: 0, downloaded: 0, left }),
        },
        { clock: realClock, udpSocket: await openSocket() },
      )
      cleanups.push(() => a.stop())
      const errors: TrackerError[] = []
      a.on('error', (e) => errors.push(e))
      return { a, errors }
    }
    const seeder = await mk(1, 7001, 0)
    const seeded = new Promise((r) => seeder.a.once('response', r))
    seeder.a.start()
    expect(await seeded).toMatchObject({ complete: 1, incomplete: 0 })
    const leecher = await mk(2, 7002, 100)
    const peers = new Promise((r) => leecher.a.once('peers', r))
    leecher.a.start()
    expect(await peers).toEqual([{ address: '127.0.0.1', port: 7001 }])
    await seeder.a.stop()
    await leecher.a.stop()
    expect(t.store.size().peers).toBe(0)
    expect([...seeder.errors, ...leecher.errors]).toEqual([])
  })
})
