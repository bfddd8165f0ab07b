import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createTorrent } from '../../../../client/metainfo/torrent-creator.js'
import { parseTorrentBytes } from '../../../../client/metainfo/torrent-loader.js'
import { SwarmClient } from '../../../../client/swarm/swarm-client.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe('a download cap', () => {
  it('holds a loopback download to about the cap, byte-exact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'punchswarm-cap-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const content = randomBytes(1024 * 1024)
    writeFileSync(join(dir, 'file.bin'), content)
    const m = parseTorrentBytes(await createTorrent(join(dir, 'file.bin'), { pieceLength: 65536 }))
    const seeder = await SwarmClient.open({ host: '127.0.0.1', punch: false })
    cleanups.push(() => seeder.close())
    await seeder.add({ infoHash: m.infoHash, metainfo: m, dir })
    const leecher = await SwarmClient.open({ host: '127.0.0.1', punch: false })
    cleanups.push(() => leecher.close())
    const cap = 256 * 1024
    const session = await leecher.add({
      infoHash: m.infoHash,
      metainfo: m,
      dir: join(dir, 'out'),
      maxDownloadRate: cap,
    })
    const started = performance.now()
    const complete = new Promise<void>((resolve) => session.once('complete', () => resolve()))
    session.addPeer('127.0.0.1', seeder.port)
    await complete
    const seconds = (performance.now() - started) / 1000
    expect(readFileSync(join(dir, 'out', 'file.bin')).equals(content)).toBe(true)
    // 1 MiB at 256 KiB/s is 4 s; the first half second's requests go out at once.
    expect(seconds).toBeGreaterThan(3.2)
    expect(seconds).toBeLessThan(8)
  }, 20_000)
})
