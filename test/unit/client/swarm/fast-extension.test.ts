import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Wire from 'bittorrent-protocol'
import { afterEach, describe, expect, it } from 'vitest'
import type { Metainfo } from '../../../../client/metainfo/metainfo-types.js'
import { createTorrent } from '../../../../client/metainfo/torrent-creator.js'
import { parseTorrentBytes } from '../../../../client/metainfo/torrent-loader.js'
import { SwarmClient } from '../../../../client/swarm/swarm-client.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A stock bittorrent-protocol Wire speaking BEP 6 over `socket`. */
interface RawWire extends Wire {
  hasFast: boolean
  _message(id: number, numbers: number[], data: Uint8Array | null): void
}

function rawWire(socket: Socket): RawWire {
  const wire = new Wire() as RawWire
  socket.pipe(wire as unknown as NodeJS.WritableStream)
  wire.pipe(socket)
  wire.on('error', () => {})
  socket.on('error', () => {})
  cleanups.push(() => socket.destroy())
  return wire
}

async function torrentOf(bytes: number): Promise<{ m: Metainfo; dir: string; content: Buffer }> {
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-fast-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const content = randomBytes(bytes)
  writeFileSync(join(dir, 'file.bin'), content)
  return {
    m: parseTorrentBytes(await createTorrent(join(dir, 'file.bin'), { pieceLength: 32768 })),
    dir,
    content,
  }
}

describe('the fast extension (BEP 6)', () => {
  it('a seed that chokes us answers a request with a reject, not silence', async () => {
    const t = await torrentOf(100_000)
    const seeder = await SwarmClient.open({ host: '127.0.0.1', punch: false, utp: false })
    cleanups.push(() => seeder.close())
    await seeder.add({ infoHash: t.m.infoHash, metainfo: t.m, dir: t.dir })
    const socket = connect(seeder.port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const wire = rawWire(socket)
    const handshake = new Promise((resolve) => wire.once('handshake', resolve))
    wire.handshake(t.m.infoHash, randomBytes(20), { fast: true })
    await handshake
    expect(wire.hasFast).toBe(true)
    const rejected = new Promise<number[]>((resolve) =>
      wire.once('reject', (...args: number[]) => resolve(args)),
    )
    // Not interested, so still choked: the request is sent raw (the Wire would refuse to send it).
    wire._message(6, [1, 0, 16384], null)
    expect(await rejected).toEqual([1, 0, 16384])
  })

  it('a peer that says "have all" is downloaded from', async () => {
    const t = await torrentOf(200_000)
    const server = createServer((socket) => {
      const wire = rawWire(socket)
      wire.once('handshake', () => {
        wire.handshake(t.m.infoHash, randomBytes(20), { fast: true })
        wire.haveAll()
      })
      wire.on('interested', () => wire.unchoke())
      wire.on(
        'request',
        (index: number, offset: number, length: number, respond: (e: null, b: Uint8Array) => void) =>
          respond(null, t.content.subarray(index * 32768 + offset, index * 32768 + offset + length)),
      )
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => server.close(resolve)))
    const leecher = await SwarmClient.open({ host: '127.0.0.1', punch: false, utp: false })
    cleanups.push(() => leecher.close())
    const out = join(t.dir, 'out')
    const session = await leecher.add({ infoHash: t.m.infoHash, metainfo: t.m, dir: out })
    const complete = new Promise<void>((resolve) => session.once('complete', () => resolve()))
    session.addPeer('127.0.0.1', (server.address() as { port: number }).port)
    await complete
    expect(readFileSync(join(out, 'file.bin')).equals(t.content)).toBe(true)
  })
})
