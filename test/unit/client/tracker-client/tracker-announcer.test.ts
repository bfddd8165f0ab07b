import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { TrackerAnnouncer } from '../../../../client/tracker-client/tracker-announcer.js'
import { encodeBencode } from '../../../../protocol/bencode-codec.js'
import type { Clock, Random, TimerHandle } from '../../../../protocol/clock.js'
import type { TrackerError } from '../../../../protocol/errors.js'
import { startTracker } from '../../../../tracker/tracker-server.js'

/** A clock whose timers fire only when the test says; `nextTimer()` resolves when one is set. */
class ManualClock implements Clock {
  t = 0
  timers: { at: number; delay: number; fn: () => void; h: object }[] = []
  private waiters: ((delay: number) => void)[] = []
  now = () => this.t
  setTimer(ms: number, fn: () => void): TimerHandle {
    const h = {}
    this.timers.push({ at: this.t + ms, delay: ms, fn, h })
    for (const w of this.waiters.splice(0)) w(ms)
    return h
  }
  clearTimer(h: TimerHandle) {
    this.timers = this.timers.filter((x) => x.h !== h)
  }
  timeoutSignal = (_ms: number) => new AbortController().signal
  nextTimer(): Promise<number> {
    return new Promise((r) => this.waiters.push(r))
  }
  fire() {
    const next = this.timers.sort((a, b) => a.at - b.at).shift()!
    this.t = next.at
    next.fn()
  }
}
const firstRandom: Random = { next: () => 0, int: () => 0, bytes: (b) => b.fill(7) }

type Reply = (q: Map<string, Uint8Array>) => { status?: number; body: Record<string, unknown> }
interface FakeTracker {
  url: string
  requests: Map<string, Uint8Array>[]
  reply: Reply
  next(): Promise<Map<string, Uint8Array>>
}
const servers: Server[] = []
const announcers: TrackerAnnouncer[] = []
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const a of announcers.splice(0)) await a.stop()
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
  for (const c of closers.splice(0)) await c()
})

/** Raw percent-decoding to bytes, as a tracker must do for info_hash (BEP 3). */
function rawQuery(req: IncomingMessage): Map<string, Uint8Array> {
  const q = new Map<string, Uint8Array>()
  for (const pair of (req.url ?? '').split('?')[1]?.split('&') ?? []) {
    const [k, v = ''] = pair.split('=')
    const bytes: number[] = []
    for (let i = 0; i < v.length; i++) {
      if (v[i] === '%') {
        bytes.push(Number.parseInt(v.slice(i + 1, i + 3), 16))
        i += 2
      } else bytes.push(v.charCodeAt(i))
    }
    q.set(k!, Uint8Array.from(bytes))
  }
  return q
}
const text = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString() : undefined)

async function fakeTracker(reply: Reply): Promise<FakeTracker> {
  const waiters: ((q: Map<string, Uint8Array>) => void)[] = []
  const t: FakeTracker = {
    url: '',
    requests: [],
    reply,
    next: () => new Promise((r) => waiters.push(r)),
  }
  const server = createServer((req, res) => {
    const q = rawQuery(req)
    t.requests.push(q)
    const { status = 200, body } = t.reply(q)
    res.writeHead(status).end(encodeBencode(body as never))
    for (const w of waiters.splice(0)) w(q)
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/announce`
  return t
}
const ok: Reply = () => ({
  body: {
    interval: 100,
    'min interval': 300,
    complete: 2,
    incomplete: 3,
    peers: Uint8Array.of(1, 2, 3, 4, 0x1a, 0xe1),
  },
})
const infoHash = Uint8Array.from({ length: 20 }, (_, i) => (i * 37) & 0xff)
const peerId = new TextEncoder().encode('-PS0001-abcdefghijkl')

function announcer(trackers: string[][], clock: Clock) {
  const a = new TrackerAnnouncer(
    { trackers, infoHash, peerId, port: 6881, stats: () => ({ uploaded: 1, downloaded: 2, left: 3 }) },
    { clock, random: firstRandom },
  )
  announcers.push(a)
  return a
}

describe('TrackerAnnouncer', () => {
  it('sends started, completed and stopped in order with raw info_hash bytes, and reports peers', async () => {
    const tracker = await fakeTracker(ok)
    const clock = new ManualClock()
    const a = announcer([[tracker.url]], clock)
    const peers = new Promise((r) => a.once('peers', r))
    const response = new Promise((r) => a.once('response', r))
    const timer = clock.nextTimer()
    a.start()
    const first = await tracker.next()
    expect(Buffer.from(first.get('info_hash')!)).toEqual(Buffer.from(infoHash))
    expect(Buffer.from(first.get('peer_id')!)).toEqual(Buffer.from(peerId))
    expect(text(first.get('compact'))).toBe('1')
    expect(text(first.get('left'))).toBe('3')
    expect(await peers).toEqual([{ address: '1.2.3.4', port: 6881 }])
    expect(await response).toEqual({ complete: 2, incomplete: 3, interval: 100 })
    await timer
    a.completed()
    await tracker.next()
    await a.stop()
    expect(tracker.requests.map((q) => text(q.get('event')))).toEqual(['started', 'completed', 'stopped'])
    expect(clock.timers).toHaveLength(0)
  })

  it('a stop right after completion still delivers completed, then stopped', async () => {
    const tracker = await fakeTracker(ok)
    const clock = new ManualClock()
    const a = announcer([[tracker.url]], clock)
    const timer = clock.nextTimer()
    a.start()
    await timer
    // The download finished and the process exits at once: `completed` is in flight when stop comes.
    a.completed()
    await a.stop()
    expect(tracker.requests.map((q) => text(q.get('event')))).toEqual(['started', 'completed', 'stopped'])
  })

  it('a completion that the tracker never answers does not hold stop for longer than its bound', async () => {
    let hang = false
    const held: (() => void)[] = []
    const tracker = await fakeTracker(ok)
    const server = servers[servers.length - 1]!
    server.removeAllListeners('request')
    server.on('request', (req: IncomingMessage, res) => {
      tracker.requests.push(rawQuery(req))
      if (hang) held.push(() => res.destroy())
      else res.writeHead(200).end(encodeBencode(ok(new Map()).body as never))
    })
    const clock = new ManualClock()
    clock.timeoutSignal = (ms: number) => AbortSignal.timeout(Math.min(ms, 300))
    const a = announcer([[tracker.url]], clock)
    const timer = clock.nextTimer()
    a.start()
    await timer
    hang = true
    a.completed()
    const t0 = performance.now()
    await a.stop()
    expect(performance.now() - t0).toBeLessThan(5_000)
    for (const h of held) h()
  })

  it('re-announces after the interval, never sooner than min interval', async () => {
    const tracker = await fakeTracker(ok)
    const clock = new ManualClock()
    const a = announcer([[tracker.url]], clock)
    const timer = clock.nextTimer()
    a.start()
    expect(await timer).toBe(300_000)
    tracker.reply = () => ({ body: { interval: 900, peers: new Uint8Array() } })
    const again = clock.nextTimer()
    clock.fire()
    const q = await tracker.next()
    expect(q.has('event')).toBe(false)
    expect(await again).toBe(900_000)
    expect(tracker.requests).toHaveLength(2)
  })

  it('backs off exponentially on failure and surfaces the failure reason', async () => {
    const tracker = await fakeTracker(() => ({ body: { 'failure reason': 'torrent not registered' } }))
    const clock = new ManualClock()
    const a = announcer([[tracker.url]], clock)
    const errors: TrackerError[] = []
    a.on('error', (e) => errors.push(e))
    const delays: number[] = []
    let timer = clock.nextTimer()
    a.start()
    for (let i = 0; i < 4; i++) {
      delays.push(await timer)
      timer = clock.nextTimer()
      clock.fire()
    }
    expect(delays).toEqual([15_000, 30_000, 60_000, 120_000])
    expect(errors[0]).toMatchObject({ code: 'TRACKER_FAILURE_REASON', message: 'torrent not registered' })
    // Every retry is still `started`: no tracker has heard of us yet.
    expect(tracker.requests.every((q) => text(q.get('event')) === 'started')).toBe(true)
    // Once the tracker answers, the normal interval returns.
    tracker.reply = ok
    delays.push(await timer)
    expect(delays.at(-1)).toBe(300_000)
  })

  it('falls back across tiers and promotes the tracker that answers (BEP 12)', async () => {
    const broken = await fakeTracker(() => ({ status: 500, body: {} }))
    const good = await fakeTracker(ok)
    const clock = new ManualClock()
    const dead = 'http://127.0.0.1:1/announce'
    // The seeded shuffle turns [good, dead, broken] into [dead, broken, good].
    const a = announcer([[good.url, dead, broken.url], ['http://127.0.0.1:2/announce']], clock)
    const errors: string[] = []
    a.on('error', (e) => errors.push(e.code))
    const timer = clock.nextTimer()
    a.start()
    await timer
    expect(good.requests).toHaveLength(1)
    expect(broken.requests).toHaveLength(1)
    expect(errors).toEqual(['TRACKER_UNREACHABLE', 'TRACKER_UNREACHABLE'])
    expect(a.trackerOrder[0]?.[0]).toBe(good.url)
    // The next announce goes straight to the promoted tracker.
    clock.fire()
    await good.next()
    expect(broken.requests).toHaveLength(1)
  })

  it('skips udp:// trackers it cannot reach yet and still uses the http ones', async () => {
    const good = await fakeTracker(ok)
    const clock = new ManualClock()
    const a = announcer([['udp://127.0.0.1:9'], [good.url]], clock)
    const timer = clock.nextTimer()
    a.start()
    await timer
    expect(good.requests).toHaveLength(1)
  })

  it('finds another peer through the real tracker', async () => {
    const tracker = await startTracker({ host: '127.0.0.1', port: 0 })
    closers.push(() => tracker.close())
    const clock = new ManualClock()
    const mk = (id: string, port: number) => {
      const a = new TrackerAnnouncer(
        {
          trackers: [[tracker.announceUrl]],
          infoHash,
          peerId: new TextEncoder().encode(id.padEnd(20, 'x')),
          port,
          stats: () => ({ uploaded: 0, downloaded: 0, left: 0 }),
        },
        { clock },
      )
      announcers.push(a)
      return a
    }
    const seeder = mk('-PS0001-seed', 7001)
    const seeded = new Promise((r) => seeder.once('response', r))
    seeder.start()
    await seeded
    const leecher = mk('-PS0001-leech', 7002)
    const peers = new Promise<{ address: string; port: number }[]>((r) => leecher.once('peers', r))
    leecher.start()
    expect(await peers).toContainEqual({ address: '127.0.0.1', port: 7001 })
  })
})
