import bencode from 'bencode'
import { afterEach, describe, expect, it } from 'vitest'
import { percentEncodeBytes } from '../../../../protocol/tracker/query-bytes.js'
import { announceUrl, trackerFixture } from '../../../helpers/tracker-fixture.js'

type Decoded = Record<string, unknown>
const fixtures: ReturnType<typeof trackerFixture>[] = []
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.app.close()
})
function setup(opts = {}) {
  const f = trackerFixture(opts)
  fixtures.push(f)
  return f
}

const hash = new Uint8Array(20).fill(0xab)
const id = (n: number) => new Uint8Array(20).fill(n)
const text = (v: unknown) => Buffer.from(v as Uint8Array).toString()

async function get(
  app: ReturnType<typeof trackerFixture>['app'],
  url: string,
  remoteAddress = '198.18.0.10',
) {
  const res = await app.inject({ method: 'GET', url, remoteAddress })
  return { status: res.statusCode, body: bencode.decode(res.rawPayload) as Decoded, raw: res.rawPayload }
}

describe('GET /announce', () => {
  it('returns other peers in compact form with counts and intervals', async () => {
    const { app } = setup({ intervalSeconds: 600 })
    await get(
      app,
      announceUrl({ infoHash: hash, peerId: id(1), port: 5001, left: 0, event: 'started' }),
      '198.18.0.1',
    )
    const r = await get(
      app,
      announceUrl({ infoHash: hash, peerId: id(2), port: 5002, event: 'started', compact: 1 }),
      '198.18.0.2',
    )
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ complete: 1, incomplete: 1, interval: 600, 'min interval': 300 })
    expect(Array.from(r.body.peers as Uint8Array)).toEqual([198, 18, 0, 1, 5001 >> 8, 5001 & 0xff])
  })

  it("answers an announce of another peer's id from another address without its key with a failure reason", async () => {
    const { app } = setup()
    const owner = `${announceUrl({ infoHash: hash, peerId: id(1), port: 5001, event: 'started' })}&key=1A2B3C4D`
    await get(app, owner, '198.18.0.1')
    const stolen = await get(app, announceUrl({ infoHash: hash, peerId: id(1), port: 6666 }), '203.0.113.66')
    expect(text(stolen.body['failure reason'])).toMatch(/peer id in use/)
    const moved = await get(
      app,
      `${announceUrl({ infoHash: hash, peerId: id(1), port: 5002 })}&key=1a2b3c4d`,
      '203.0.113.7',
    )
    expect(moved.body['failure reason']).toBeUndefined()
    const r = await get(app, announceUrl({ infoHash: hash, peerId: id(2), compact: 1 }), '198.18.0.2')
    expect(Array.from(r.body.peers as Uint8Array)).toEqual([203, 0, 113, 7, 5002 >> 8, 5002 & 0xff])
  })

  it('answers the dictionary model with and without peer ids', async () => {
    const { app } = setup()
    await get(app, announceUrl({ infoHash: hash, peerId: id(1), port: 5001 }), '198.18.0.1')
    const dict = await get(app, announceUrl({ infoHash: hash, peerId: id(2), compact: 0 }))
    const peers = dict.body.peers as Decoded[]
    expect(text(peers[0]!.ip)).toBe('198.18.0.1')
    expect(peers[0]!['peer id']).toEqual(id(1))
    const noIds = await get(app, announceUrl({ infoHash: hash, peerId: id(2), compact: 0, noPeerId: true }))
    expect((noIds.body.peers as Decoded[])[0]).not.toHaveProperty('peer id')
  })

  it('lists IPv6 peers in peers6 and IPv4-mapped sources as IPv4', async () => {
    const { app } = setup()
    await get(app, announceUrl({ infoHash: hash, peerId: id(1), port: 7000 }), '2001:db8::7')
    await get(app, announceUrl({ infoHash: hash, peerId: id(3), port: 7003 }), '::ffff:198.18.0.3')
    const r = await get(app, announceUrl({ infoHash: hash, peerId: id(2) }))
    expect((r.body.peers6 as Uint8Array).length).toBe(18)
    expect(Array.from((r.body.peers as Uint8Array).subarray(0, 4))).toEqual([198, 18, 0, 3])
  })

  it('caps numwant and never returns the announcer', async () => {
    const { app } = setup({ maxNumwant: 5 })
    for (let i = 1; i <= 20; i++)
      await get(app, announceUrl({ infoHash: hash, peerId: id(i), port: 6000 + i }))
    const r = await get(app, announceUrl({ infoHash: hash, peerId: id(1), port: 6001, numwant: 1000 }))
    const peers = r.body.peers as Uint8Array
    expect(peers.length).toBe(5 * 6)
    for (let i = 0; i < peers.length; i += 6) expect((peers[i + 4]! << 8) | peers[i + 5]!).not.toBe(6001)
  })

  it('removes a stopped peer and counts a completed download once', async () => {
    const { app, store } = setup()
    await get(app, announceUrl({ infoHash: hash, peerId: id(1), event: 'started' }))
    await get(app, announceUrl({ infoHash: hash, peerId: id(1), left: 0, event: 'completed' }))
    await get(app, announceUrl({ infoHash: hash, peerId: id(1), left: 0, event: 'completed' }))
    expect(store.scrape(hash)).toEqual({ complete: 1, incomplete: 0, downloaded: 1 })
    await get(app, announceUrl({ infoHash: hash, peerId: id(1), left: 0, event: 'stopped' }))
    expect(store.scrape(hash)).toMatchObject({ complete: 0, incomplete: 0 })
  })

  it('drops a peer that misses about two intervals', async () => {
    const { app, store, clock } = setup({ intervalSeconds: 100 })
    await get(app, announceUrl({ infoHash: hash, peerId: id(1) }))
    clock.advance(150_000)
    await get(app, announceUrl({ infoHash: hash, peerId: id(2) }))
    store.expire(clock.now(), (100 * 2 + 60) * 1000, 1000)
    expect(store.size().peers).toBe(2)
    clock.advance(150_000)
    store.expire(clock.now(), (100 * 2 + 60) * 1000, 1000)
    expect(store.size().peers).toBe(1)
  })

  it('ignores the ip parameter unless the proxy is trusted', async () => {
    const plain = setup()
    await get(plain.app, announceUrl({ infoHash: hash, peerId: id(1), ip: '203.0.113.77' }), '198.18.0.1')
    const r1 = await get(plain.app, announceUrl({ infoHash: hash, peerId: id(2) }))
    expect(Array.from((r1.body.peers as Uint8Array).subarray(0, 4))).toEqual([198, 18, 0, 1])
    const proxied = setup({ trustProxy: true })
    await get(proxied.app, announceUrl({ infoHash: hash, peerId: id(1), ip: '203.0.113.77' }), '127.0.0.1')
    const r2 = await get(proxied.app, announceUrl({ infoHash: hash, peerId: id(2) }))
    expect(Array.from((r2.body.peers as Uint8Array).subarray(0, 4))).toEqual([203, 0, 113, 77])
  })

  it('echoes the tracker id and sends the warning message', async () => {
    const { app } = setup({ warning: 'maintenance at noon' })
    const r = await get(app, `${announceUrl({ infoHash: hash, peerId: id(1) })}&trackerid=abc`)
    expect(text(r.body['tracker id'])).toBe('abc')
    expect(text(r.body['warning message'])).toBe('maintenance at noon')
  })

  it('counts announces for the stats', async () => {
    const { app, stats } = setup()
    await get(app, announceUrl({ infoHash: hash, peerId: id(1) }))
    await get(app, '/announce?bad')
    expect(stats.announces).toBe(1)
  })
})

describe('bad requests', () => {
  const h = percentEncodeBytes(hash)
  const p = percentEncodeBytes(id(1))
  const cases: [string, string][] = [
    ['/announce', 'missing info_hash'],
    [`/announce?info_hash=short&peer_id=${p}&port=1`, 'invalid info_hash: must be 20 bytes, got 5'],
    [`/announce?info_hash=${h}&port=1`, 'missing peer_id'],
    [`/announce?info_hash=${h}&peer_id=${p}&port=99999`, 'invalid port'],
    [`/announce?info_hash=${h}&peer_id=${p}&port=abc`, 'invalid port'],
    [`/announce?info_hash=${h}&peer_id=${p}&port=1&left=%ZZ`, 'invalid left'],
    [`/announce?info_hash=%C3%28%ff%fe%fd&peer_id=${p}&port=1`, 'invalid info_hash: must be 20 bytes, got 5'],
    [
      `/announce?info_hash=${h}&peer_id=${p}&port=1&${'a=1&'.repeat(2000)}`,
      'request URL longer than 4096 bytes',
    ],
    ['/scrape', 'scrape needs at least one info_hash'],
    ['/scrape?info_hash=abc', 'invalid info_hash: must be 20 bytes, got 3'],
    ['/nowhere', 'unknown path'],
  ]
  it.each(cases)('%s gets a bencoded failure reason', async (url, reason) => {
    const { app } = setup()
    const r = await get(app, url)
    expect(text(r.body['failure reason'])).toBe(reason)
    // And the tracker keeps serving.
    const ok = await get(app, announceUrl({ infoHash: hash, peerId: id(9) }))
    expect(ok.body).toHaveProperty('interval')
  })

  it('survives raw garbage bytes in the request line', async () => {
    const { app } = setup()
    const r = await app.inject({ method: 'GET', url: '/announce?info_hash=\u00ff\u0000\u0001' })
    expect(r.statusCode).toBe(200)
    expect(text((bencode.decode(r.rawPayload) as Decoded)['failure reason'])).toMatch(/info_hash/)
  })

  it('answers a POST with a body by a bencoded failure and keeps serving', async () => {
    const { app } = setup()
    const r = await app.inject({ method: 'POST', url: '/announce', payload: 'x'.repeat(10_000) })
    expect(r.statusCode).toBe(404)
    expect(text((bencode.decode(r.rawPayload) as Decoded)['failure reason'])).toBe('unknown path')
    const ok = await get(app, announceUrl({ infoHash: hash, peerId: id(9) }))
    expect(ok.body).toHaveProperty('interval')
  })
})

describe('GET /scrape', () => {
  it('answers several info hashes at once, keyed by raw bytes', async () => {
    const { app } = setup()
    const other = new Uint8Array(20).fill(0x01)
    await get(app, announceUrl({ infoHash: hash, peerId: id(1), left: 0 }))
    await get(app, announceUrl({ infoHash: hash, peerId: id(2) }))
    const r = await app.inject({
      method: 'GET',
      url: `/scrape?info_hash=${percentEncodeBytes(hash)}&info_hash=${percentEncodeBytes(other)}`,
    })
    const raw = Buffer.from(r.rawPayload).toString('latin1')
    expect(raw).toContain(
      `${Buffer.from(hash).toString('latin1')}d8:completei1e10:downloadedi0e10:incompletei1ee`,
    )
    expect(raw).toContain(
      `${Buffer.from(other).toString('latin1')}d8:completei0e10:downloadedi0e10:incompletei0ee`,
    )
  })
})
