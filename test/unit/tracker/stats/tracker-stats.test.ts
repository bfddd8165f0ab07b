import { afterEach, describe, expect, it } from 'vitest'
import { TrackerStats } from '../../../../tracker/stats/tracker-stats.js'
import { announceUrl, manualClock, trackerFixture } from '../../../helpers/tracker-fixture.js'

describe('tracker stats counters', () => {
  it('reports announces per second over the last minute', () => {
    const clock = manualClock(0)
    const stats = new TrackerStats({ clock })
    clock.advance(60_000)
    for (let i = 0; i < 120; i++) stats.recordAnnounce()
    expect(stats.rates().announcesPerSecond).toBe(2)
    clock.advance(61_000)
    expect(stats.rates().announcesPerSecond).toBe(0)
    expect(stats.announces).toBe(120)
  })

  it('keeps an hour of per-minute history with the peer count', () => {
    const clock = manualClock(0)
    let peers = 5
    const stats = new TrackerStats({ clock, peerCount: () => peers })
    stats.recordAnnounce()
    stats.history() // the stats page reads every few seconds
    clock.advance(60_000)
    peers = 9
    stats.recordAnnounce()
    stats.recordAnnounce()
    const h = stats.history()
    expect(h.map((m) => m.announces)).toEqual([1, 2])
    expect(h.map((m) => m.peers)).toEqual([5, 9])
    clock.advance(3 * 3_600_000)
    expect(stats.history()).toHaveLength(60)
    expect(stats.history().every((m) => m.announces === 0)).toBe(true)
  })
})

const fixtures: ReturnType<typeof trackerFixture>[] = []
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.app.close()
})

describe('stats routes', () => {
  async function withSwarm() {
    const f = trackerFixture()
    fixtures.push(f)
    const hash = new Uint8Array(20).fill(0xcd)
    await f.app.inject({
      url: announceUrl({ infoHash: hash, peerId: new Uint8Array(20).fill(1), left: 0 }),
      remoteAddress: '198.18.0.1',
    })
    await f.app.inject({
      url: announceUrl({ infoHash: hash, peerId: new Uint8Array(20).fill(2) }),
      remoteAddress: '2001:db8::2',
    })
    return f
  }

  it('GET /stats.json shows totals, rates and the swarm', async () => {
    const { app } = await withSwarm()
    const s = (await app.inject({ url: '/stats.json' })).json()
    expect(s.totals).toMatchObject({ swarms: 1, peers: 2, seeders: 1, leechers: 1, peers4: 1, peers6: 1 })
    expect(s.totals.byNatClass.unknown).toBe(2)
    expect(s.counters.announces).toBe(2)
    expect(s.swarms).toEqual([
      expect.objectContaining({
        infoHash: 'cd'.repeat(20),
        seeders: 1,
        leechers: 1,
        completed: 0,
        peers4: 1,
        peers6: 1,
      }),
    ])
    expect(s.memory.rss).toBeGreaterThan(0)
  })

  it('GET /metrics is Prometheus text with the swarm gauges', async () => {
    const { app } = await withSwarm()
    const res = await app.inject({ url: '/metrics' })
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.body).toMatch(/^punchswarm_peers 2$/m)
    expect(res.body).toMatch(/^punchswarm_announces_total 2$/m)
    expect(res.body).toMatch(/^punchswarm_peers_by_family\{family="ipv6"\} 1$/m)
    expect(res.body).toMatch(/punchswarm_process_/)
  })

  it('GET /stats is an HTML page that loads stats.json', async () => {
    const { app } = await withSwarm()
    const res = await app.inject({ url: '/stats' })
    expect(res.headers['content-type']).toMatch(/text\/html/)
    expect(res.body).toContain('<meta name="viewport"')
    expect(res.body).toContain("fetch('stats.json'")
  })
})
