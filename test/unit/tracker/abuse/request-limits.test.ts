import bencode from 'bencode'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type Bep15Request,
  decodeBep15Response,
  encodeBep15Request,
} from '../../../../protocol/bep15/bep15-codec.js'
import type { UdpAddress } from '../../../../protocol/datagram-socket.js'
import { percentEncodeBytes } from '../../../../protocol/tracker/query-bytes.js'
import { RequestLimiter } from '../../../../tracker/request-limiter.js'
import { TrackerStats } from '../../../../tracker/stats/tracker-stats.js'
import { MemorySwarmStore } from '../../../../tracker/store/memory-swarm-store.js'
import { UdpTrackerHandler } from '../../../../tracker/udp/udp-tracker-handler.js'
import { announceUrl, manualClock, trackerFixture } from '../../../helpers/tracker-fixture.js'
import { xorshiftRandom } from '../../../helpers/xorshift-random.js'

const apps: { close(): Promise<unknown> }[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})

const hash = new Uint8Array(20).fill(0xab)
const id = (n: number) => new Uint8Array(20).fill(n)
const LIMITED = 'too many requests from this address: slow down'

describe('per-address request limits over HTTP', () => {
  async function setup() {
    const f = trackerFixture({ maxRequestsPerSecond: 2, requestBurst: 4 })
    apps.push(f.app)
    const get = async (url: string, remoteAddress: string) => {
      const res = await f.app.inject({ method: 'GET', url, remoteAddress })
      expect(res.statusCode).toBe(200)
      const body = bencode.decode(res.rawPayload) as Record<string, unknown>
      const failure = body['failure reason']
      return failure instanceof Uint8Array ? Buffer.from(failure).toString() : 'ok'
    }
    const announce = (n: number, ip: string) => get(announceUrl({ infoHash: hash, peerId: id(n) }), ip)
    return { ...f, get, announce }
  }

  it('answers announces beyond the burst with a failure reason, then admits at the configured rate', async () => {
    const { announce, clock, store } = await setup()
    const answers = []
    for (let i = 0; i < 6; i++) answers.push(await announce(i, '198.18.0.1'))
    expect(answers).toEqual(['ok', 'ok', 'ok', 'ok', LIMITED, LIMITED])
    // Refused announces did not touch the store.
    expect(store.size().peers).toBe(4)
    // Other addresses are not held back by this one.
    expect(await announce(10, '198.18.0.2')).toBe('ok')
    clock.advance(1000)
    expect([await announce(6, '198.18.0.1'), await announce(7, '198.18.0.1')]).toEqual(['ok', 'ok'])
    expect(await announce(8, '198.18.0.1')).toBe(LIMITED)
  })

  it('counts scrapes with announces, and a whole IPv6 /64 as one address', async () => {
    const { announce, get } = await setup()
    const scrape = `/scrape?info_hash=${percentEncodeBytes(hash)}`
    expect(await get(scrape, '2001:db8:1:2::1')).toBe('ok')
    expect(await announce(1, '2001:db8:1:2::2')).toBe('ok')
    expect(await get(scrape, '2001:db8:1:2:ffff::3')).toBe('ok')
    expect(await announce(2, '2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('ok')
    expect(await get(scrape, '2001:db8:1:2::5')).toBe(LIMITED)
    expect(await announce(3, '2001:db8:1:3::1')).toBe('ok')
  })

  it('can be switched off', async () => {
    const f = trackerFixture({ maxRequestsPerSecond: 0 })
    apps.push(f.app)
    for (let i = 0; i < 100; i++) {
      const res = await f.app.inject({
        method: 'GET',
        url: announceUrl({ infoHash: hash, peerId: id(i) }),
        remoteAddress: '198.18.0.1',
      })
      expect(bencode.decode(res.rawPayload)).not.toHaveProperty('failure reason')
    }
  })
})

describe('per-address request limits over UDP (BEP 15)', () => {
  const secret = new Uint8Array(32).fill(3)
  function setup(limiter: RequestLimiter, store = new MemorySwarmStore({ random: xorshiftRandom(2) })) {
    const clock = manualClock()
    const handler = new UdpTrackerHandler(
      { intervalSeconds: 900 },
      { store, clock, stats: new TrackerStats({ clock }), secret, limiter },
    )
    const connectionId = (from: UdpAddress) => {
      const res = decodeBep15Response(
        handler.handle(encodeBep15Request({ action: 'connect', transactionId: 1 }), from)!,
      )
      if (res.action !== 'connect') throw new Error(`expected a connect answer, got ${res.action}`)
      return res.connectionId
    }
    const announceBytes = (connectionId: bigint, infoHash: Uint8Array, peerId: Uint8Array): Uint8Array => {
      const req: Bep15Request = {
        action: 'announce',
        connectionId,
        transactionId: 2,
        infoHash,
        peerId,
        downloaded: 0n,
        left: 10n,
        uploaded: 0n,
        event: 'started',
        ip: 0,
        key: 0,
        numWant: -1,
        port: 6881,
      }
      return encodeBep15Request(req)
    }
    return { handler, clock, store, connectionId, announceBytes }
  }

  it('answers announces beyond the burst with a BEP 15 error smaller than the request; connects still work', () => {
    const { handler, clock, connectionId, announceBytes } = setup(new RequestLimiter(2, 4))
    const from = { address: '198.18.0.1', port: 6881 }
    const cid = connectionId(from)
    const answers = Array.from({ length: 6 }, (_, i) => {
      const req = announceBytes(cid, hash, id(i))
      const reply = handler.handle(req, from)!
      expect(reply.length).toBeLessThanOrEqual(req.length)
      return decodeBep15Response(reply)
    })
    expect(answers.map((a) => a.action)).toEqual([
      'announce',
      'announce',
      'announce',
      'announce',
      'error',
      'error',
    ])
    expect(answers[5]).toMatchObject({ message: 'rate limited: slow down' })
    expect(connectionId(from)).toBeTypeOf('bigint')
    clock.advance(1000)
    expect(decodeBep15Response(handler.handle(announceBytes(cid, hash, id(9)), from)!).action).toBe(
      'announce',
    )
  })

  it('stays within its swarm cap and address table under a flood of random info hashes from many addresses', () => {
    const store = new MemorySwarmStore({ random: xorshiftRandom(3) }, { maxSwarms: 500 })
    const limiter = new RequestLimiter(20, 200, 2_000)
    const { handler, connectionId, announceBytes } = setup(limiter, store)
    const random = xorshiftRandom(4)
    const sources = Array.from({ length: 5_000 }, (_, i) => ({
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      port: 1024 + (i % 60_000),
    }))
    const cids = sources.map(connectionId)
    let answered = 0
    let most = 0
    for (let i = 0; i < 20_000; i++) {
      const s = i % sources.length
      const reply = handler.handle(
        announceBytes(cids[s]!, random.bytes(new Uint8Array(20)), id(1)),
        sources[s]!,
      )
      if (reply && decodeBep15Response(reply).action === 'announce') answered++
      most = Math.max(most, store.size().swarms)
    }
    expect(most).toBe(500)
    expect(answered).toBe(20_000)
    expect(limiter.size).toBeLessThanOrEqual(2_000)
    expect(store.evictedSwarms).toBe(20_000 - 500)
  })
})
