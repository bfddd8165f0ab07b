import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createTorrent } from '../../../../client/metainfo/torrent-creator.js'
import { parseTorrentBytes } from '../../../../client/metainfo/torrent-loader.js'
import { SwarmClient } from '../../../../client/swarm/swarm-client.js'
import type { TorrentSession } from '../../../../client/swarm/torrent-session.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-webseed-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A static file server under `root` that honours `Range: bytes=a-b` (206), as web seeds must;
 * `corrupt` flips a byte in every answer. Counts the range requests it answered.
 */
async function fileServer(
  root: string,
  corrupt = false,
  oversize = false,
): Promise<{ url: string; ranges: () => number }> {
  let ranges = 0
  const server: Server = createServer((req, res) => {
    let bytes: Buffer
    try {
      bytes = readFileSync(join(root, decodeURIComponent(new URL(req.url!, 'http://x').pathname)))
    } catch {
      res.writeHead(404).end()
      return
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
    if (m) {
      ranges++
      if (oversize) {
        // A 206 that claims a terabyte and trickles: it must be refused at its headers.
        res.writeHead(206, { 'content-length': 2 ** 40 })
        res.write(bytes.subarray(0, 1024))
        return
      }
      bytes = bytes.subarray(Number(m[1]), Number(m[2]) + 1)
    }
    if (corrupt && bytes.length > 0) bytes = Buffer.from(bytes).fill(0x55, 0, 1)
    res.writeHead(m ? 206 : 200, { 'content-length': bytes.length }).end(bytes)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise((resolve) => server.close(resolve)))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, ranges: () => ranges }
}

async function download(torrent: Uint8Array, out: string, maxDownloadRate?: number): Promise<TorrentSession> {
  const m = parseTorrentBytes(torrent)
  const client = await SwarmClient.open({ host: '127.0.0.1', punch: false })
  cleanups.push(() => client.close())
  const session = await client.add({
    infoHash: m.infoHash,
    metainfo: m,
    dir: out,
    ...(maxDownloadRate ? { maxDownloadRate } : {}),
  })
  await new Promise<void>((resolve) => session.once('complete', () => resolve()))
  return session
}

describe('web seeds (BEP 19)', () => {
  it('a single-file torrent downloads from its url-list alone, byte-exact', async () => {
    const root = tempDir()
    const content = randomBytes(700_000)
    writeFileSync(join(root, 'one file.bin'), content)
    const server = await fileServer(root)
    // A URL ending in '/' names the directory: the client appends the torrent's name.
    const torrent = await createTorrent(join(root, 'one file.bin'), {
      pieceLength: 32768,
      webSeeds: [server.url],
    })
    expect(parseTorrentBytes(torrent).webSeeds).toEqual([server.url])
    const out = tempDir()
    await download(torrent, out)
    expect(readFileSync(join(out, 'one file.bin')).equals(content)).toBe(true)
    expect(server.ranges()).toBeGreaterThan(0)
  })

  it('a multi-file torrent downloads from its url-list alone, ranges crossing files included', async () => {
    const root = tempDir()
    const files = new Map<string, Buffer>([
      ['album/a.bin', randomBytes(100_000)],
      ['album/disc 2/b.bin', randomBytes(33_333)],
      ['album/disc 2/c.bin', randomBytes(250_001)],
    ])
    for (const [rel, bytes] of files) {
      mkdirSync(dirname(join(root, rel)), { recursive: true })
      writeFileSync(join(root, rel), bytes)
    }
    const server = await fileServer(root)
    const torrent = await createTorrent(join(root, 'album'), { pieceLength: 16384, webSeeds: [server.url] })
    const out = tempDir()
    await download(torrent, out)
    for (const [rel, bytes] of files) expect(readFileSync(join(out, rel)).equals(bytes), rel).toBe(true)
  })

  it('is held to the download cap', async () => {
    const root = tempDir()
    const content = randomBytes(1024 * 1024)
    writeFileSync(join(root, 'f.bin'), content)
    const server = await fileServer(root)
    const torrent = await createTorrent(join(root, 'f.bin'), {
      pieceLength: 65536,
      webSeeds: [`${server.url}f.bin`],
    })
    const out = tempDir()
    const started = performance.now()
    await download(torrent, out, 256 * 1024)
    // 1 MiB at 256 KiB/s is 4 s; the first half second's blocks go out at once.
    expect((performance.now() - started) / 1000).toBeGreaterThan(3.2)
    expect(readFileSync(join(out, 'f.bin')).equals(content)).toBe(true)
  }, 20_000)

  it("a magnet link's ws web seed serves the pieces once a peer has supplied the info dict", async () => {
    const root = tempDir()
    const content = randomBytes(600_000)
    writeFileSync(join(root, 'f.bin'), content)
    const server = await fileServer(root)
    const m = parseTorrentBytes(await createTorrent(join(root, 'f.bin'), { pieceLength: 16384 }))
    // The only peer uploads at 20 kB/s: the metadata comes from it, the bulk from the web seed.
    const seeder = await SwarmClient.open({ host: '127.0.0.1', punch: false })
    cleanups.push(() => seeder.close())
    const seeding = await seeder.add({ infoHash: m.infoHash, metainfo: m, dir: root, maxUploadRate: 20_000 })
    const out = tempDir()
    const client = await SwarmClient.open({ host: '127.0.0.1', punch: false })
    cleanups.push(() => client.close())
    const session = await client.add({ infoHash: m.infoHash, dir: out, webSeeds: [`${server.url}f.bin`] })
    const complete = new Promise<void>((resolve) => session.once('complete', () => resolve()))
    session.addPeer('127.0.0.1', seeder.port)
    await complete
    expect(readFileSync(join(out, 'f.bin')).equals(content)).toBe(true)
    expect(server.ranges()).toBeGreaterThan(0)
    expect(seeding.up.total).toBeLessThan(content.length / 2)
  }, 20_000)

  /**
   * A bad web seed (`mode`) for a file a peer also seeds: the download starts with the web seed
   * alone; `join()` adds the peer.
   */
  async function badSeedAndPeer(mode: 'corrupt' | 'oversize') {
    const root = tempDir()
    const content = randomBytes(300_000)
    writeFileSync(join(root, 'f.bin'), content)
    const server = await fileServer(root, mode === 'corrupt', mode === 'oversize')
    const url = `${server.url}f.bin`
    const m = parseTorrentBytes(
      await createTorrent(join(root, 'f.bin'), { pieceLength: 16384, webSeeds: [url] }),
    )
    const seeder = await SwarmClient.open({ host: '127.0.0.1', punch: false })
    cleanups.push(() => seeder.close())
    await seeder.add({ infoHash: m.infoHash, metainfo: m, dir: root })
    const out = tempDir()
    const client = await SwarmClient.open({ host: '127.0.0.1', punch: false })
    cleanups.push(() => client.close())
    const session = await client.add({ infoHash: m.infoHash, metainfo: m, dir: out })
    const banned: string[] = []
    session.on('banned', (id) => banned.push(id))
    const joinPeer = async () => {
      session.addPeer('127.0.0.1', seeder.port)
      await new Promise<void>((resolve) => session.once('complete', () => resolve()))
      expect(readFileSync(join(out, 'f.bin')).equals(content)).toBe(true)
    }
    return { server, url, session, banned, join: joinPeer }
  }

  it('a web seed answering with more bytes than asked for is refused at once, and the peers finish the file', async () => {
    const t = await badSeedAndPeer('oversize')
    // Refused at once, the fetch is retried after the first backoff (2 s), not after a 30 s timeout.
    const started = performance.now()
    while (t.server.ranges() < 2) await new Promise((r) => setTimeout(r, 10))
    expect(performance.now() - started).toBeLessThan(6000)
    await t.join()
    // Refused before any block was handed over: nothing of it failed a hash, so nobody was banned.
    expect(t.banned).toEqual([])
  }, 20_000)

  it('a web seed serving corrupt data is banned, and the peers finish the file', async () => {
    const t = await badSeedAndPeer('corrupt')
    // The web seed starts alone; the peer joins once it has been caught.
    await new Promise<void>((resolve) => t.session.once('banned', () => resolve()))
    await t.join()
    expect(t.banned).toEqual([`web:${t.url}`])
  })
})
