import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type RunningTracker, startTracker } from '../../tracker/tracker-server.js'
import { LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { libtorrentAvailable, prerequisite } from '../helpers/require-tool.js'

const gate = prerequisite('python3-libtorrent (Debian package)', libtorrentAvailable())

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** Two libtorrent sessions find each other through the punchswarm tracker alone and transfer a file. */
async function transferThrough(trackerUrl: (t: RunningTracker) => string) {
  const tracker = await startTracker({
    host: '127.0.0.1',
    port: 0,
    intervalSeconds: 5,
    minIntervalSeconds: 2,
  })
  cleanups.push(() => tracker.close())
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-interop-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const seedDir = join(dir, 'seed')
  const leechDir = join(dir, 'leech')
  mkdirSync(seedDir)
  mkdirSync(leechDir)
  const content = randomBytes(3 * 1024 * 1024 + 12345)
  writeFileSync(join(seedDir, 'payload.bin'), content)
  const torrent = join(dir, 'payload.torrent')
  const infoHash = await LibtorrentPeer.create(join(seedDir, 'payload.bin'), torrent, [trackerUrl(tracker)])

  const seeder = LibtorrentPeer.start({ torrent, save: seedDir, seed: true })
  cleanups.push(() => seeder.stop())
  await seeder.waitFor((e) => e.event === 'tracker_reply')
  const hash = Buffer.from(infoHash, 'hex')
  expect(tracker.store.scrape(hash)).toMatchObject({ complete: 1, incomplete: 0 })

  const leecher = LibtorrentPeer.start({ torrent, save: leechDir })
  cleanups.push(() => leecher.stop())
  // The leecher learns the seeder from the tracker: nobody connects them by hand.
  await leecher.waitFor((e) => e.event === 'tracker_reply' && e.num_peers >= 1)
  await leecher.waitFor((e) => e.event === 'finished', 60_000)
  expect(readFileSync(join(leechDir, 'payload.bin')).equals(content)).toBe(true)
  // After its next announce the leecher is counted as a second seeder.
  await expect.poll(() => tracker.store.scrape(hash).complete, { timeout: 20_000, interval: 250 }).toBe(2)
}

describe.skipIf(gate.skip)('libtorrent through the punchswarm tracker', () => {
  it('two sessions find each other over HTTP announces and complete a transfer', async () => {
    await transferThrough((t) => t.announceUrl)
  }, 90_000)

  it('two sessions find each other over UDP announces (BEP 15) and complete a transfer', async () => {
    await transferThrough((t) => `${t.udpUrl}/announce`)
  }, 90_000)
})
