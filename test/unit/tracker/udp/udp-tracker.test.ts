import { createSocket, type Socket } from 'node:dgram'
import fc from 'fast-check'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type Bep15Request,
  decodeBep15Request,
  decodeBep15Response,
  encodeBep15Request,
  encodeBep15Response,
} from '../../../../protocol/bep15/bep15-codec.js'
import { CONNECTION_ID_BUCKET_MS } from '../../../../protocol/bep15/connection-id.js'
import { TrackerStats } from '../../../../tracker/stats/tracker-stats.js'
import { MemorySwarmStore } from '../../../../tracker/store/memory-swarm-store.js'
import { bindUdpTracker } from '../../../../tracker/udp/bind-udp-tracker.js'
import { manualClock } from '../../../helpers/tracker-fixture.js'
import { xorshiftRandom } from '../../../helpers/xorshift-random.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function setup() {
  const clock = manualClock()
  const store = new MemorySwarmStore({ random: xorshiftRandom(5) })
  const tracker = await bindUdpTracker(
    { host: '127.0.0.1', port: 0 },
    {
      store,
      clock,
      stats: new TrackerStats({ clock }),
      logger: pino({ level: 'silent' }),
      secret: new Uint8Array(32).fill(3),
      intervalSeconds: 900,
    },
  )
  cleanups.push(() => tracker.close())
  const client = async (host = '127.0.0.1') => {
    const s = createSocket('udp4')
    await new Promise<void>((r) => s.bind(0, host, r))
    cleanups.push(() => new Promise<void>((r) => s.close(() => r())))
    return s
  }
  const ask = (s: Socket, bytes: Uint8Array) =>
    new Promise<ReturnType<typeof decodeBep15Response>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer')), 2000)
      s.once('message', (m) => {
        clearTimeout(timer)
        resolve(decodeBep15Response(m))
      })
      s.send(bytes, tracker.port, '127.0.0.1')
    })
  const connect = async (s: Socket) => {
    const r = await ask(s, encodeBep15Request({ action: 'connect', transactionId: 7 }))
    if (r.action !== 'connect') throw new Error(`expected connect, got ${r.action}`)
    expect(r.transactionId).toBe(7)
    return r.connectionId
  }
  return { tracker, clock, store, client, ask, connect }
}

const hash = new Uint8Array(20).fill(0x11)
const announce = (connectionId: bigint, peer: number, port: number, over: Partial<Bep15Request> = {}) =>
  encodeBep15Request({
    action: 'announce',
    connectionId,
    transactionId: 100 + peer,
    infoHash: hash,
    peerId: new Uint8Array(20).fill(peer),
    downloaded: 0n,
    left: peer === 1 ? 0n : 1000n,
    uploaded: 0n,
    event: 'started',
    ip: 0,
    key: 1,
    numWant: -1,
    port,
    ...over,
  } as Bep15Request)

describe('UDP tracker (BEP 15) over a real socket', () => {
  it('connects, announces two peers, and gives each the other', async () => {
    const { client, ask, connect } = await setup()
    const a = await client()
    const b = await client()
    const ra = await ask(a, announce(await connect(a), 1, 5001))
    expect(ra).toMatchObject({ action: 'announce', interval: 900, seeders: 1, leechers: 0 })
    const rb = await ask(b, announce(await connect(b), 2, 5002))
    expect(rb).toMatchObject({ action: 'announce', seeders: 1, leechers: 1 })
    if (rb.action !== 'announce') throw new Error()
    expect(Array.from(rb.peers)).toEqual([127, 0, 0, 1, 5001 >> 8, 5001 & 0xff])
  })

  it("answers an announce of another peer's id from another address without its key with an error", async () => {
    const { client, ask, connect } = await setup()
    const owner = await client()
    await ask(owner, announce(await connect(owner), 1, 5001, { key: 0x5eed }))
    // Linux answers on all of 127/8: a second source address on loopback.
    const other = await client('127.0.0.2')
    const r = await ask(other, announce(await connect(other), 1, 6666, { key: 0xbad }))
    expect(r).toMatchObject({ action: 'error', message: expect.stringContaining('peer id in use') })
    const same = await ask(other, announce(await connect(other), 1, 6666, { key: 0x5eed }))
    expect(same).toMatchObject({ action: 'announce', seeders: 1 })
  })

  it('scrapes several info hashes at once', async () => {
    const { client, ask, connect } = await setup()
    const a = await client()
    const id = await connect(a)
    await ask(a, announce(id, 1, 5001))
    const r = await ask(
      a,
      encodeBep15Request({
        action: 'scrape',
        connectionId: id,
        transactionId: 9,
        infoHashes: [hash, new Uint8Array(20)],
      }),
    )
    expect(r).toEqual({
      action: 'scrape',
      transactionId: 9,
      files: [
        { seeders: 1, completed: 0, leechers: 0 },
        { seeders: 0, completed: 0, leechers: 0 },
      ],
    })
  })

  it('refuses an expired connection id and one issued to another address', async () => {
    const { client, ask, connect, clock } = await setup()
    const a = await client()
    const b = await client()
    const id = await connect(a)
    expect(await ask(b, announce(id, 2, 5002))).toMatchObject({
      action: 'error',
      message: 'connection id expired',
    })
    clock.advance(CONNECTION_ID_BUCKET_MS * 2 + 1)
    expect(await ask(a, announce(id, 1, 5001))).toMatchObject({
      action: 'error',
      message: 'connection id expired',
    })
    expect(await ask(a, announce(await connect(a), 1, 5001))).toMatchObject({ action: 'announce' })
  })

  it('never issues a connection id with the top bit set', async () => {
    const { client, connect } = await setup()
    const a = await client()
    for (let i = 0; i < 20; i++) expect((await connect(a)) >> 63n).toBe(0n)
  })

  it('keeps answering after truncated and garbage datagrams', async () => {
    const { client, ask, connect, tracker } = await setup()
    const a = await client()
    const junkSender = await client()
    const id = await connect(a)
    for (const junk of [
      new Uint8Array(0),
      new Uint8Array(3),
      announce(id, 1, 5001).subarray(0, 60),
      new Uint8Array(2000).fill(0x7f),
    ]) {
      junkSender.send(junk, tracker.port, '127.0.0.1')
    }
    const truncated = await ask(a, announce(id, 1, 5001).subarray(0, 50))
    expect(truncated).toMatchObject({ action: 'error' })
    expect(await ask(a, announce(id, 1, 5001))).toMatchObject({ action: 'announce' })
  })
})

describe('BEP 15 codec', () => {
  it('round-trips announce requests', () => {
    fc.assert(
      fc.property(
        fc.record({
          connectionId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          transactionId: fc.integer({ min: 0, max: 0xffffffff }),
          infoHash: fc.uint8Array({ minLength: 20, maxLength: 20 }),
          peerId: fc.uint8Array({ minLength: 20, maxLength: 20 }),
          downloaded: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          left: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          uploaded: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          event: fc.constantFrom('none', 'completed', 'started', 'stopped' as const),
          ip: fc.integer({ min: 0, max: 0xffffffff }),
          key: fc.integer({ min: 0, max: 0xffffffff }),
          numWant: fc.integer({ min: -1, max: 1000 }),
          port: fc.integer({ min: 0, max: 65535 }),
        }),
        (r) => {
          const req = { action: 'announce' as const, ...r }
          expect(decodeBep15Request(encodeBep15Request(req))).toEqual(req)
        },
      ),
    )
  })

  it('round-trips responses', () => {
    const resp = {
      action: 'announce' as const,
      transactionId: 1,
      interval: 2,
      leechers: 3,
      seeders: 4,
      peers: new Uint8Array(12).fill(9),
    }
    expect(decodeBep15Response(encodeBep15Response(resp))).toEqual(resp)
    const err = { action: 'error' as const, transactionId: 5, message: 'no' }
    expect(decodeBep15Response(encodeBep15Response(err))).toEqual(err)
  })

  it('decodes any bytes or throws DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          decodeBep15Request(b)
        } catch (e) {
          expect((e as Error).name).toBe('DecodeError')
        }
        try {
          decodeBep15Response(b)
        } catch (e) {
          expect((e as Error).name).toBe('DecodeError')
        }
      }),
      { numRuns: 2000 },
    )
  })
})
