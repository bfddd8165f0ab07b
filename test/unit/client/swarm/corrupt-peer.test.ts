import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Wire from 'bittorrent-protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { createTorrent } from '../../../../client/metainfo/torrent-creator.js'
import { parseTorrentBytes } from '../../../../client/metainfo/torrent-loader.js'
import { SwarmClient } from '../../../../client/swarm/swarm-client.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A peer that claims every piece and answers every request with random bytes. */
async function corruptPeer(infoHashHex: string, pieceCount: number) {
  let connections = 0
  const server = createServer((socket: Socket) => {
    connections++
    const wire = new Wire()
    ;(socket.pipe(wire as unknown as NodeJS.WritableStream) as unknown as Wire).pipe(socket)
    socket.on('error', () => wire.destroy())
    wire.on('error', () => socket.destroy())
    wire.on('handshake', () => {
      wire.handshake(infoHashHex, randomBytes(20).toString('hex'), { dht: false })
      const bits = new Uint8Array(Math.ceil(pieceCount / 8))
      for (let i = 0; i < pieceCount; i++) bits[i >> 3]! |= 0x80 >> (i & 7)
      wire.bitfield(bits)
    })
    wire.on('interested', () => wire.unchoke())
    wire.on(
      'request',
      (_i: number, _o: number, length: number, respond: (e: Error | null, b: Uint8Array) => void) =>
        respond(null, randomBytes(length)),
    )
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanups.push(() => new Promise((r) => server.close(r)))
  const a = server.address()
  return { port: typeof a === 'object' && a ? a.port : 0, connections: () => connections }
}

describe('a peer that serves corrupt data', () => {
  it('is detected, banned and not reconnected, and the download is still byte-exact', async () => {
    const root = mkdtempSync(join(tmpdir(), 'punchswarm-corrupt-'))
    cleanups.push(() => rmSync(root, { recursive: true, force: true }))
    const src = join(root, 'seed')
    mkdirSync(src)
    const content = randomBytes(4 * 1024 * 1024 + 321)
    writeFileSync(join(src, 'payload.bin'), content)
    const m = parseTorrentBytes(await createTorrent(join(src, 'payload.bin'), { pieceLength: 32 * 1024 }))

    const good = await SwarmClient.open({ host: '127.0.0.1', utp: false })
    cleanups.push(() => good.close())
    await good.add({ infoHash: m.infoHash, metainfo: m, dir: src })
    const evil = await corruptPeer(m.infoHashHex, m.layout.pieceCount)

    const client = await SwarmClient.open({ host: '127.0.0.1', utp: false })
    cleanups.push(() => client.close())
    const session = await client.add({ infoHash: m.infoHash, metainfo: m, dir: join(root, 'leech') })
    const banned: string[] = []
    session.on('banned', (id) => banned.push(id))
    // The corrupt peer first, so it gets its share of requests before the good one joins.
    session.addPeer('127.0.0.1', evil.port)
    await new Promise((r) => setTimeout(r, 300))
    session.addPeer('127.0.0.1', good.port)
    await new Promise<void>((r) => session.once('complete', () => r()))

    expect(readFileSync(join(root, 'leech', 'payload.bin')).equals(content)).toBe(true)
    expect(banned).toEqual([`127.0.0.1:${evil.port}`])
    const connectionsAtEnd = evil.connections()
    await new Promise((r) => setTimeout(r, 2500))
    expect(evil.connections()).toBe(connectionsAtEnd)
    expect(session.peers.map((p) => p.port)).not.toContain(evil.port)
  }, 60_000)
})
