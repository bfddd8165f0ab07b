import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parseMagnet, toMagnetUri } from '../../../../client/metainfo/magnet-link.js'
import {
  autoPieceLength,
  type CreateTorrentOptions,
  createTorrent,
} from '../../../../client/metainfo/torrent-creator.js'
import {
  loadTorrent,
  metainfoFromInfoDict,
  parseTorrentBytes,
} from '../../../../client/metainfo/torrent-loader.js'
import { decodeBencode, encodeBencode } from '../../../../protocol/bencode-codec.js'
import { UsageError } from '../../../../protocol/errors.js'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'punchswarm-metainfo-'))
  dirs.push(d)
  return d
}
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff
  return out
}
function sha1Hex(b: Uint8Array): string {
  return createHash('sha1').update(b).digest('hex')
}

describe('createTorrent → loadTorrent', () => {
  it('round-trips a single-file torrent with tiers, private flag, comment and hashes', async () => {
    const dir = await tempDir()
    const data = bytes(100_000, 1)
    await writeFile(join(dir, 'movie.bin'), data)
    const trackers = [
      ['http://127.0.0.1:8000/announce', 'http://127.0.0.1:8001/announce'],
      ['udp://127.0.0.1:8002'],
    ]
    const raw = await createTorrent(join(dir, 'movie.bin'), {
      trackers,
      private: true,
      pieceLength: 32768,
      comment: 'hi',
    })
    const m = await loadTorrent(raw)
    expect(m.name).toBe('movie.bin')
    expect(m.private).toBe(true)
    expect(m.comment).toBe('hi')
    expect(m.announce).toEqual(trackers)
    expect(m.layout.multiFile).toBe(false)
    expect(m.layout.files).toEqual([{ path: ['movie.bin'], length: 100_000, offset: 0 }])
    expect(m.layout.pieceLength).toBe(32768)
    expect(m.layout.pieceCount).toBe(4)
    expect(m.layout.lastPieceLength).toBe(100_000 - 3 * 32768)
    // Piece hashes are the SHA-1 of the data itself.
    for (let i = 0; i < 4; i++) {
      const piece = data.subarray(i * 32768, Math.min(100_000, (i + 1) * 32768))
      expect(Buffer.from(m.layout.pieceHashes.subarray(i * 20, i * 20 + 20)).toString('hex')).toBe(
        sha1Hex(piece),
      )
    }
    const root = decodeBencode(raw) as Record<string, unknown>
    expect(Buffer.from(root.announce as Uint8Array).toString()).toBe(trackers[0]?.[0])
    expect(m.infoHashHex).toBe(sha1Hex(m.infoBytes))
    // Loading from a path gives the same result.
    await writeFile(join(dir, 'x.torrent'), raw)
    expect((await loadTorrent(join(dir, 'x.torrent'))).infoHashHex).toBe(m.infoHashHex)
  })

  it('round-trips a multi-file torrent with nested paths and offsets, no trackers added', async () => {
    const dir = await tempDir()
    await mkdir(join(dir, 'album', 'disc 2'), { recursive: true })
    await writeFile(join(dir, 'album', 'a.txt'), bytes(20_000, 2))
    await writeFile(join(dir, 'album', 'disc 2', 'b.bin'), bytes(50_000, 3))
    await writeFile(join(dir, 'album', '.hidden'), 'skip me')
    const m = await loadTorrent(await createTorrent(join(dir, 'album')))
    expect(m.name).toBe('album')
    expect(m.private).toBe(false)
    expect(m.announce).toEqual([])
    expect(m.layout.multiFile).toBe(true)
    expect(m.layout.length).toBe(70_000)
    const files = [...m.layout.files].sort((a, b) => a.offset - b.offset)
    expect(files.map((f) => f.path.join('/')).sort()).toEqual(['a.txt', 'disc 2/b.bin'])
    expect(files[1]?.offset).toBe(files[0]?.length)
    expect(m.layout.pieceLength).toBe(16384)
  })

  it('chooses automatic piece lengths like libtorrent: power of two, ≤2048 pieces, 16 KiB..16 MiB', () => {
    expect(autoPieceLength(1)).toBe(16384)
    expect(autoPieceLength(1 << 30)).toBe(512 * 1024)
    const pieces = Math.ceil(700e6 / autoPieceLength(700e6))
    expect(pieces).toBeGreaterThan(1024)
    expect(pieces).toBeLessThanOrEqual(2048)
    expect(autoPieceLength(1e13)).toBe(16 * 1024 * 1024)
  })

  it('refuses a missing path and bad options with UsageError', async () => {
    const dir = await tempDir()
    await expect(createTorrent(join(dir, 'nope'))).rejects.toMatchObject({ code: 'USAGE_NOT_FOUND' })
    await writeFile(join(dir, 'f'), 'x')
    await expect(createTorrent(join(dir, 'f'), { pieceLength: 1000 })).rejects.toMatchObject({
      code: 'USAGE_BAD_ARGUMENT',
    })
    await expect(createTorrent(join(dir, 'f'), { trackers: [['ftp://x']] })).rejects.toMatchObject({
      code: 'USAGE_BAD_ARGUMENT',
    })
    await expect(createTorrent(join(dir, 'f'), { webSeeds: ['ftp://x/f'] })).rejects.toMatchObject({
      code: 'USAGE_BAD_ARGUMENT',
    })
  })

  it('keeps the http(s) URLs of url-list (BEP 19), one or a list, and drops the rest', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'f'), 'x')
    const one = await createTorrent(join(dir, 'f'), { webSeeds: ['https://example.org/f'] })
    expect(parseTorrentBytes(one).webSeeds).toEqual(['https://example.org/f'])
    // Hand-made torrents: url-list as a single string, then as a list with other schemes in it.
    const info = encodeBencode({ name: 'f', 'piece length': 16384, length: 1, pieces: new Uint8Array(20) })
    const make = (urlList: string | string[]) =>
      Buffer.concat([
        Buffer.from('d4:info'),
        info,
        Buffer.from('8:url-list'),
        encodeBencode(urlList),
        Buffer.from('e'),
      ])
    expect(parseTorrentBytes(make('http://a/f')).webSeeds).toEqual(['http://a/f'])
    expect(parseTorrentBytes(make(['ftp://b/f', 'http://c/f', 'not a url'])).webSeeds).toEqual(['http://c/f'])
    expect(parseTorrentBytes(make([])).webSeeds).toBeUndefined()
  })
})

const hasLibtorrent =
  spawnSync('/usr/bin/python3', ['-c', 'import libtorrent'], { stdio: 'ignore' }).status === 0

describe.skipIf(!hasLibtorrent)('libtorrent agrees', () => {
  it('libtorrent.torrent_info accepts our torrents and computes the same info hash', async () => {
    const dir = await tempDir()
    await mkdir(join(dir, 'set', 'sub'), { recursive: true })
    await writeFile(join(dir, 'set', 'one'), bytes(40_000, 4))
    await writeFile(join(dir, 'set', 'sub', 'two'), bytes(3, 5))
    await writeFile(join(dir, 'single'), bytes(70_000, 6))
    const inputs: [string, CreateTorrentOptions][] = [
      ['set', { private: true, trackers: [['http://127.0.0.1:1/announce']] }],
      ['single', {}],
    ]
    for (const [src, opts] of inputs) {
      const raw = await createTorrent(join(dir, src), opts)
      const m = await loadTorrent(raw)
      const file = join(dir, `${src}.torrent`)
      await writeFile(file, raw)
      const script =
        'import libtorrent as lt, sys\n' +
        'ti = lt.torrent_info(sys.argv[1])\n' +
        'print(str(ti.info_hashes().v1), ti.num_pieces(), ti.total_size(), ti.priv(), ti.num_files())'
      const out = spawnSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8', timeout: 20_000 })
      expect(out.stderr).toBe('')
      expect(out.stdout.trim()).toBe(
        `${m.infoHashHex} ${m.layout.pieceCount} ${m.layout.length} ${m.private ? 'True' : 'False'} ${m.layout.files.length}`,
      )
    }
  })
})

describe.skipIf(!hasLibtorrent)('torrents libtorrent makes', () => {
  it('loads a multi-file torrent made by libtorrent with the info hash and layout libtorrent reports', async () => {
    const dir = await tempDir()
    await mkdir(join(dir, 'lt', 'sub'), { recursive: true })
    await writeFile(join(dir, 'lt', 'a'), bytes(50_000, 8))
    await writeFile(join(dir, 'lt', 'sub', 'b'), bytes(20_000, 9))
    const file = join(dir, 'lt.torrent')
    const script =
      'import libtorrent as lt, sys\n' +
      'fs = lt.file_storage()\n' +
      'lt.add_files(fs, sys.argv[1])\n' +
      'ct = lt.create_torrent(fs, 16384)\n' +
      'ct.add_tracker("http://127.0.0.1:1/announce", 0)\n' +
      'ct.set_priv(True)\n' +
      'lt.set_piece_hashes(ct, sys.argv[2])\n' +
      'open(sys.argv[3], "wb").write(lt.bencode(ct.generate()))\n' +
      'ti = lt.torrent_info(sys.argv[3])\n' +
      'print(str(ti.info_hashes().v1), ti.num_pieces(), ti.total_size())'
    const out = spawnSync('/usr/bin/python3', ['-c', script, join(dir, 'lt'), dir, file], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(out.status, out.stderr).toBe(0)
    const m = await loadTorrent(file)
    expect(out.stdout.trim()).toBe(`${m.infoHashHex} ${m.layout.pieceCount} ${m.layout.length}`)
    expect(m.private).toBe(true)
    expect(m.announce).toEqual([['http://127.0.0.1:1/announce']])
    // libtorrent 2 may add BEP 47 pad files; the data files are there with their sizes.
    const data = m.layout.files.filter((f) => !f.path.some((s) => s.startsWith('.pad')))
    expect(data.map((f) => `${f.path.join('/')}:${f.length}`).sort()).toEqual(['a:50000', 'sub/b:20000'])
  })
})

describe('bad torrents', () => {
  const info = (over: Record<string, unknown>) => ({
    name: 'x',
    'piece length': 16384,
    pieces: new Uint8Array(20),
    length: 10,
    ...over,
  })
  const torrent = (i: Record<string, unknown>) => encodeBencode({ info: i as never })
  const cases: [string, Uint8Array][] = [
    ['not bencode', new TextEncoder().encode('hello')],
    ['truncated', torrent(info({})).subarray(0, 30)],
    ['no info', encodeBencode({ announce: 'http://x' })],
    ['pieces % 20', torrent(info({ pieces: new Uint8Array(21) }))],
    ['zero piece length', torrent(info({ 'piece length': 0 }))],
    ['negative length', torrent(info({ length: -1 }))],
    ['piece count mismatch', torrent(info({ length: 20_000 }))],
    ['name ..', torrent(info({ name: '..' }))],
    ['name with slash', torrent(info({ name: 'a/b' }))],
    ['path ..', torrent(info({ length: undefined, files: [{ length: 10, path: ['..', 'etc'] }] }))],
    ['absolute path', torrent(info({ length: undefined, files: [{ length: 10, path: ['/etc/passwd'] }] }))],
    ['empty segment', torrent(info({ length: undefined, files: [{ length: 10, path: ['a', ''] }] }))],
    ['empty path', torrent(info({ length: undefined, files: [{ length: 10, path: [] }] }))],
    ['backslash', torrent(info({ length: undefined, files: [{ length: 10, path: ['..\\x'] }] }))],
    [
      'file and dir clash',
      torrent(
        info({
          length: undefined,
          files: [
            { length: 5, path: ['a'] },
            { length: 5, path: ['a', 'b'] },
          ],
        }),
      ),
    ],
  ]
  for (const [label, raw] of cases) {
    it(`refuses ${label} with USAGE_BAD_TORRENT`, async () => {
      const err = await loadTorrent(raw).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(UsageError)
      expect(err).toMatchObject({ code: 'USAGE_BAD_TORRENT' })
      expect((err as Error).message).not.toContain('\n')
    })
  }
  it('accepts the same layout when it is well-formed', async () => {
    const m = await loadTorrent(torrent(info({})))
    expect(m.layout.pieceCount).toBe(1)
  })
  it('reports an unreadable path as USAGE_BAD_TORRENT', async () => {
    await expect(loadTorrent('/nonexistent/x.torrent')).rejects.toMatchObject({ code: 'USAGE_BAD_TORRENT' })
  })
})

describe('magnet links', () => {
  it('parses hex and base32 hashes, name, trackers and peers', () => {
    const hex = '0123456789abcdef0123456789abcdef01234567'
    const m = parseMagnet(
      `magnet:?xt=urn:btih:${hex}&dn=My%20File&tr=http%3A%2F%2Ft%2Fa&tr=udp://u:1&x.pe=1.2.3.4:5&x.pe=[::1]:6&x.pe=bad`,
    )
    expect(m.infoHashHex).toBe(hex)
    expect(m.name).toBe('My File')
    expect(m.trackers).toEqual(['http://t/a', 'udp://u:1'])
    expect(m.peers).toEqual([
      { address: '1.2.3.4', port: 5 },
      { address: '::1', port: 6 },
    ])
    // Base32 of the same 20 bytes (RFC 4648).
    const b32 = 'AERUKZ4JVPG66AJDIVTYTK6N54ASGRLH'
    expect(parseMagnet(`magnet:?xt=urn:btih:${b32}`).infoHashHex).toBe(hex)
  })

  it('reads and writes BEP 19 web seeds (ws), http(s) only', async () => {
    const hex = '0123456789abcdef0123456789abcdef01234567'
    const m = parseMagnet(
      `magnet:?xt=urn:btih:${hex}&ws=http%3A%2F%2Fa%2Ff&ws=ftp%3A%2F%2Fb%2Ff&ws=https://c/f`,
    )
    expect(m.webSeeds).toEqual(['http://a/f', 'https://c/f'])
    expect(parseMagnet(`magnet:?xt=urn:btih:${hex}`).webSeeds).toBeUndefined()
    const dir = await tempDir()
    await writeFile(join(dir, 'f'), 'x')
    const t = parseTorrentBytes(await createTorrent(join(dir, 'f'), { webSeeds: ['http://a/f'] }))
    expect(parseMagnet(toMagnetUri(t)).webSeeds).toEqual(['http://a/f'])
  })
  for (const bad of ['http://x', 'magnet:?dn=x', 'magnet:?xt=urn:btih:1234', 'magnet:?xt=urn:btmh:1220ab']) {
    it(`refuses ${bad} with USAGE_BAD_MAGNET`, () => {
      expect(() => parseMagnet(bad)).toThrow(expect.objectContaining({ code: 'USAGE_BAD_MAGNET' }))
    })
  }
  it('toMagnetUri → parseMagnet → metainfoFromInfoDict gives back the torrent', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'f'), bytes(30_000, 7))
    const m = await loadTorrent(
      await createTorrent(join(dir, 'f'), { trackers: [['http://a/x'], ['udp://b:1']] }),
    )
    const link = parseMagnet(toMagnetUri(m))
    expect(link.infoHashHex).toBe(m.infoHashHex)
    expect(link.name).toBe('f')
    expect(link.trackers).toEqual(['http://a/x', 'udp://b:1'])
    const rebuilt = metainfoFromInfoDict(m.infoBytes, [link.trackers], link.infoHash)
    expect(rebuilt.infoHashHex).toBe(m.infoHashHex)
    expect(rebuilt.layout).toEqual(m.layout)
    // The synthesised .torrent loads to the same torrent.
    expect((await loadTorrent(rebuilt.torrentBytes)).infoHashHex).toBe(m.infoHashHex)
    const wrong = new Uint8Array(20)
    expect(() => metainfoFromInfoDict(m.infoBytes, [], wrong)).toThrow(
      expect.objectContaining({ code: 'PROTOCOL_HASH_MISMATCH' }),
    )
  })
})
