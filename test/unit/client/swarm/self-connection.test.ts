import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
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

describe('our own address among the peers (from the DHT or a peer exchange)', () => {
  it('is dialled once, closed when the handshake shows our peer id, and never dialled again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'punchswarm-self-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'file.bin'), randomBytes(100_000))
    const m = parseTorrentBytes(await createTorrent(join(dir, 'file.bin'), { pieceLength: 16384 }))
    const client = await SwarmClient.open({ host: '127.0.0.1', punch: false })
    cleanups.push(() => client.close())
    const session = await client.add({ infoHash: m.infoHash, metainfo: m, dir })
    let reached = 0
    client.on('connection', () => reached++)
    session.addPeer('127.0.0.1', client.port)
    // A failed dial is retried after 2 s (then 4, 8 ...): wait past the first retry.
    await new Promise((r) => setTimeout(r, 3500))
    expect(reached).toBe(1)
    expect(session.peers).toHaveLength(0)
  }, 10_000)
})
