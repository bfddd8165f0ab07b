import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Wire from 'bittorrent-protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { parseTorrentBytes } from '../../client/metainfo/torrent-loader.js'
import { UdpSocket } from '../../client/udp-socket.js'
import { UtpEndpoint } from '../../client/utp/utp-endpoint.js'
import type { UtpStream } from '../../client/utp/utp-stream.js'
import { LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { libtorrentAvailable, prerequisite } from '../helpers/require-tool.js'

const gate = prerequisite('python3-libtorrent (Debian package)', libtorrentAvailable())

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const BLOCK = 16 * 1024
const MiB = 1024 * 1024

/** A payload and a torrent of it made by libtorrent itself, in a temp dir. */
async function fixture(bytes: number) {
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-utp-interop-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const seedDir = join(dir, 'seed')
  const leechDir = join(dir, 'leech')
  mkdirSync(seedDir)
  mkdirSync(leechDir)
  const content = randomBytes(bytes)
  writeFileSync(join(seedDir, 'payload.bin'), content)
  const torrent = join(dir, 'payload.torrent')
  await LibtorrentPeer.create(join(seedDir, 'payload.bin'), torrent, [], 64 * 1024)
  const meta = parseTorrentBytes(readFileSync(torrent))
  return { content, torrent, seedDir, leechDir, meta }
}

async function utpEndpoint() {
  const socket = await UdpSocket.open({ host: '127.0.0.1' })
  const endpoint = new UtpEndpoint(socket)
  cleanups.push(() => {
    endpoint.close()
    socket.close()
  })
  return { socket, endpoint }
}

function wireOver(stream: UtpStream): Wire {
  const wire = new Wire()
  ;(stream.pipe(wire as unknown as NodeJS.WritableStream) as unknown as Wire).pipe(stream)
  wire.on('error', () => {})
  stream.on('error', () => {})
  cleanups.push(() => {
    wire.destroy()
    stream.destroy()
  })
  return wire
}

const ourPeerId = () => Buffer.concat([Buffer.from('-PS0001-'), randomBytes(12)]).toString('hex')
const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest()

describe.skipIf(gate.skip)('uTP interop with libtorrent restricted to uTP', () => {
  it('punchswarm connects to libtorrent over uTP and downloads every piece byte-exact', async () => {
    const f = await fixture(3 * MiB + 4321)
    const seeder = LibtorrentPeer.start({
      torrent: f.torrent,
      save: f.seedDir,
      seed: true,
      utp: true,
      tcp: false,
    })
    cleanups.push(() => seeder.stop())
    const port = await seeder.port()
    // libtorrent turns away peers until the torrent is loaded and seeding.
    await seeder.waitFor((e) => e.event === 'status' && e.seeding)
    const { endpoint } = await utpEndpoint()
    const stream = await endpoint.connect({ address: '127.0.0.1', port })
    const wire = wireOver(stream)
    wire.handshake(f.meta.infoHashHex, ourPeerId(), { dht: false })
    await once(wire, 'handshake')
    const { layout } = f.meta
    // libtorrent announces its pieces (bitfield or have_all), then unchokes us once interested.
    await new Promise<void>((resolve) => {
      const check = () => wire.peerPieces.get(layout.pieceCount - 1) && resolve()
      wire.on('bitfield', check)
      wire.on('have', check)
      check()
    })
    wire.interested()
    if (wire.peerChoking) await once(wire, 'unchoke')
    const out = Buffer.alloc(layout.length)
    for (let piece = 0; piece < layout.pieceCount; piece++) {
      const size = piece === layout.pieceCount - 1 ? layout.lastPieceLength : layout.pieceLength
      const blocks: Promise<void>[] = []
      for (let off = 0; off < size; off += BLOCK) {
        const len = Math.min(BLOCK, size - off)
        blocks.push(
          new Promise((resolve, reject) =>
            wire.request(piece, off, len, (err, block) => {
              if (err) return reject(err)
              out.set(block, piece * layout.pieceLength + off)
              resolve()
            }),
          ),
        )
      }
      await Promise.all(blocks)
      const data = out.subarray(piece * layout.pieceLength, piece * layout.pieceLength + size)
      expect(sha1(data).equals(Buffer.from(layout.pieceHashes.subarray(piece * 20, piece * 20 + 20)))).toBe(
        true,
      )
    }
    expect(out.equals(f.content)).toBe(true)
    expect(stream.connection.stats.bytesReceived).toBeGreaterThan(layout.length)
    // libtorrent saw a uTP peer: TCP is off on its side, so there is no other way in.
    const status = await seeder.waitFor((e) => e.event === 'status' && e.peers.length > 0)
    expect(status.event === 'status' && status.peers[0]!.up).toBeGreaterThan(0)
  }, 60_000)

  it('libtorrent connects to punchswarm over uTP and downloads the whole torrent from it', async () => {
    const f = await fixture(2 * MiB + 999)
    const { socket, endpoint } = await utpEndpoint()
    endpoint.listen()
    const { layout } = f.meta
    const served = new Set<number>()
    endpoint.on('connection', (stream) => {
      const wire = wireOver(stream)
      wire.on('handshake', () => {
        wire.handshake(f.meta.infoHashHex, ourPeerId(), { dht: false })
        const bits = new Uint8Array(Math.ceil(layout.pieceCount / 8))
        for (let i = 0; i < layout.pieceCount; i++) bits[i >> 3]! |= 0x80 >> (i & 7)
        wire.bitfield(bits)
      })
      wire.on('interested', () => wire.unchoke())
      wire.on(
        'request',
        (
          index: number,
          offset: number,
          length: number,
          respond: (err: Error | null, b?: Uint8Array) => void,
        ) => {
          served.add(index)
          const start = index * layout.pieceLength + offset
          respond(null, f.content.subarray(start, start + length))
        },
      )
    })
    const leecher = LibtorrentPeer.start({ torrent: f.torrent, save: f.leechDir, utp: true, tcp: false })
    cleanups.push(() => leecher.stop())
    await leecher.port()
    leecher.connect('127.0.0.1', socket.address().port)
    await leecher.waitFor((e) => e.event === 'finished', 60_000)
    expect(readFileSync(join(f.leechDir, 'payload.bin')).equals(f.content)).toBe(true)
    expect(served.size).toBe(layout.pieceCount)
    expect(endpoint.stats.packetsIn).toBeGreaterThan(0)
  }, 90_000)
})
