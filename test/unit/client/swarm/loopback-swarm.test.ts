import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createTorrent } from '../../../../client/metainfo/torrent-creator.js'
import { parseTorrentBytes } from '../../../../client/metainfo/torrent-loader.js'
import { SwarmClient } from '../../../../client/swarm/swarm-client.js'
import type { TorrentSession } from '../../../../client/swarm/torrent-session.js'
import { startTracker } from '../../../../tracker/tracker-server.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const MiB = 1024 * 1024

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-swarm-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

describe('a loopback swarm of punchswarm clients', () => {
  it('one seeder and five leechers complete byte-exact, and leechers upload to each other', async () => {
    const tracker = await startTracker({
      host: '127.0.0.1',
      port: 0,
      intervalSeconds: 5,
      minIntervalSeconds: 1,
    })
    cleanups.push(() => tracker.close())
    const root = tempDir()
    const src = join(root, 'seed')
    mkdirSync(join(src, 'album', 'disc 1'), { recursive: true })
    const files = {
      'album/disc 1/a.bin': randomBytes(3 * MiB + 17),
      'album/disc 1/b.bin': randomBytes(5 * MiB - 3),
      'album/cover.bin': randomBytes(70_000),
    }
    for (const [p, b] of Object.entries(files)) writeFileSync(join(src, p), b)
    const m = parseTorrentBytes(
      await createTorrent(join(src, 'album'), { trackers: [[tracker.announceUrl]], pieceLength: 64 * 1024 }),
    )

    const seeder = await SwarmClient.open({ host: '127.0.0.1' })
    cleanups.push(() => seeder.close())
    // A seeder with a home uplink's cap (loopback has none): what the leechers need beyond it must
    // come from each other. Without a cap, five leechers that start together may each fetch the
    // whole torrent from the seeder before any of them has a piece to offer.
    const seedSession = await seeder.add({
      infoHash: m.infoHash,
      metainfo: m,
      dir: src,
      maxUploadRate: 4_000_000,
    })
    expect(seedSession.complete).toBe(true)

    const leechers: TorrentSession[] = []
    for (let i = 0; i < 5; i++) {
      const client = await SwarmClient.open({ host: '127.0.0.1' })
      cleanups.push(() => client.close())
      const dir = join(root, `leech-${i}`)
      leechers.push(await client.add({ infoHash: m.infoHash, metainfo: m, dir }))
    }
    await Promise.all(
      leechers.map((s) => (s.complete ? undefined : new Promise<void>((r) => s.once('complete', () => r())))),
    )

    for (let i = 0; i < 5; i++) {
      for (const [p, b] of Object.entries(files)) {
        expect(readFileSync(join(root, `leech-${i}`, p)).equals(b)).toBe(true)
      }
    }
    const fromLeechers = leechers.reduce((sum, s) => sum + s.up.total, 0)
    expect(fromLeechers).toBeGreaterThan(m.layout.length)
    expect(seedSession.up.total).toBeLessThan(5 * m.layout.length)
  }, 60_000)
})
