import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Metainfo, TorrentLayout } from '../../../../client/metainfo/metainfo-types.js'
import { createTorrent } from '../../../../client/metainfo/torrent-creator.js'
import { loadTorrent } from '../../../../client/metainfo/torrent-loader.js'
import { PieceStore } from '../../../../client/storage/piece-store.js'
import { seededBytes } from '../../../helpers/seeded-bytes.js'

const dirs: string[] = []
const stores: PieceStore[] = []
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'punchswarm-store-'))
  dirs.push(d)
  return d
}
async function openStore(...args: Parameters<typeof PieceStore.open>): Promise<PieceStore> {
  const s = await PieceStore.open(...args)
  stores.push(s)
  return s
}
/** A multi-file torrent whose files straddle piece boundaries, plus its content concatenated. */
async function fixture(): Promise<{ m: Metainfo; content: Uint8Array; src: string; sizes: number[] }> {
  const src = await tempDir()
  const sizes = [10_000, 40_000, 1, 25_000]
  await mkdir(join(src, 'pack', 'sub'), { recursive: true })
  const names = ['a', 'b', 'c', join('sub', 'd')]
  const parts = sizes.map((n, i) => seededBytes(n, i + 1))
  for (const [i, n] of names.entries()) await writeFile(join(src, 'pack', n), parts[i]!)
  const m = await loadTorrent(await createTorrent(join(src, 'pack'), { pieceLength: 16384 }))
  // The content in torrent order, whatever order the creator chose for the files.
  const byPath = new Map(names.map((n, i) => [n.split('/').join('/'), parts[i]!]))
  const content = Buffer.concat(m.layout.files.map((f) => byPath.get(f.path.join('/'))!))
  return { m, content, src, sizes }
}
function piece(m: Metainfo, content: Uint8Array, i: number): Uint8Array {
  return content.subarray(i * m.layout.pieceLength, Math.min(content.length, (i + 1) * m.layout.pieceLength))
}

describe('PieceStore', () => {
  it('writes pieces across file boundaries, reads them back, and lays files out under dir/<name>', async () => {
    const { m, content } = await fixture()
    const dir = await tempDir()
    const store = await openStore(m.layout, dir, { infoHashHex: m.infoHashHex })
    expect(store.verifiedCount).toBe(0)
    expect(store.bytesLeft()).toBe(content.length)
    for (let i = m.layout.pieceCount - 1; i >= 0; i--)
      expect(await store.writePiece(i, piece(m, content, i))).toBe(true)
    expect(store.verifiedCount).toBe(m.layout.pieceCount)
    expect(store.bytesLeft()).toBe(0)
    expect(store.bitfield()).toEqual(new Uint8Array([0xf8]))
    expect(Buffer.from(await store.readBlock(1, 15000, 1000))).toEqual(
      Buffer.from(content.subarray(31384, 32384)),
    )
    for (const f of m.layout.files) {
      const onDisk = await readFile(join(dir, 'pack', ...f.path))
      expect(onDisk.equals(Buffer.from(content.subarray(f.offset, f.offset + f.length)))).toBe(true)
    }
  })

  it('lays a single-file torrent out as dir/<name>', async () => {
    const src = await tempDir()
    const data = seededBytes(20_000, 9)
    await writeFile(join(src, 'one.bin'), data)
    const m = await loadTorrent(await createTorrent(join(src, 'one.bin')))
    const dir = await tempDir()
    const store = await openStore(m.layout, dir)
    expect(await store.writePiece(0, data.subarray(0, 16384))).toBe(true)
    expect(await store.writePiece(1, data.subarray(16384))).toBe(true)
    expect((await readFile(join(dir, 'one.bin'))).equals(Buffer.from(data))).toBe(true)
  })

  it('creates zero-length files once the torrent is complete', async () => {
    const data = seededBytes(100, 5)
    const layout: TorrentLayout = {
      pieceLength: 16384,
      length: 100,
      pieceCount: 1,
      lastPieceLength: 100,
      pieceHashes: new Uint8Array(createHash('sha1').update(data).digest()),
      files: [
        { path: ['empty'], length: 0, offset: 0 },
        { path: ['d', 'data'], length: 100, offset: 0 },
      ],
      multiFile: true,
      name: 't',
    }
    const dir = await tempDir()
    const store = await openStore(layout, dir)
    await expect(stat(join(dir, 't', 'empty'))).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await store.writePiece(0, data)).toBe(true)
    expect((await stat(join(dir, 't', 'empty'))).size).toBe(0)
  })

  it('refuses a piece whose hash does not match and writes nothing', async () => {
    const { m, content } = await fixture()
    const dir = await tempDir()
    const store = await openStore(m.layout, dir)
    const bad = Uint8Array.from(piece(m, content, 0))
    bad[100] = bad[100]! ^ 1
    expect(await store.writePiece(0, bad)).toBe(false)
    expect(await store.writePiece(0, piece(m, content, 0).subarray(1))).toBe(false)
    expect(store.has(0)).toBe(false)
    await expect(stat(join(dir, 'pack'))).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(store.readBlock(0, 0, 10)).rejects.toMatchObject({ code: 'STORAGE_PIECE_UNAVAILABLE' })
  })

  it('resumes from resume data without a recheck, and rechecks when a file changed', async () => {
    const { m, content } = await fixture()
    const dir = await tempDir()
    const first = await PieceStore.open(m.layout, dir, { infoHashHex: m.infoHashHex })
    for (const i of [0, 2, 4]) await first.writePiece(i, piece(m, content, i))
    await first.close()
    await stat(join(dir, `.${m.infoHashHex}.resume`))

    let progress = 0
    const resumed = await openStore(m.layout, dir, { infoHashHex: m.infoHashHex })
    expect([0, 1, 2, 3, 4].map((i) => resumed.has(i))).toEqual([true, false, true, false, true])
    await resumed.close()
    stores.pop()

    // Corrupt piece 2's bytes behind the store's back, keeping size but not mtime.
    const bFile = join(dir, 'pack', ...m.layout.files[1]!.path)
    const buf = await readFile(bFile)
    const at = 2 * 16384 - m.layout.files[1]!.offset
    buf[at] = buf[at]! ^ 0xff
    await writeFile(bFile, buf)
    const rechecked = await openStore(m.layout, dir, { infoHashHex: m.infoHashHex })
    expect([0, 1, 2, 3, 4].map((i) => rechecked.has(i))).toEqual([true, false, false, false, true])
    await rechecked.verifyAll({ onProgress: (d) => (progress = d) })
    expect(progress).toBe(m.layout.pieceCount)

    // A truncated file (size differs) also forces a recheck.
    await truncate(join(dir, 'pack', ...m.layout.files[0]!.path), 5)
    const after = await openStore(m.layout, dir, { infoHashHex: m.infoHashHex })
    expect(after.has(0)).toBe(false)
  })

  it('trusts resume data only while size and mtime match (touching a file forces a recheck)', async () => {
    const { m, content } = await fixture()
    const dir = await tempDir()
    const s = await PieceStore.open(m.layout, dir)
    await s.writePiece(4, piece(m, content, 4))
    await s.close()
    // Same bytes, new mtime: the store cannot know whether the content changed, so it rechecks (and finds it good).
    const f = join(dir, 'pack', ...m.layout.files[3]!.path)
    await utimes(f, new Date(), new Date(Date.now() + 5000))
    const again = await openStore(m.layout, dir)
    expect(again.has(4)).toBe(true)
  })

  it('reports disk errors as STORAGE_IO with the path', async () => {
    const { m, content } = await fixture()
    const dir = await tempDir()
    await writeFile(join(dir, 'pack'), 'a file where a directory must go')
    // The recheck on open already trips over it.
    const err = await openStore(m.layout, dir).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'STORAGE_IO' })
    expect((err as Error).message).toContain(join(dir, 'pack'))
    // A store whose resume data is fine fails on the write instead.
    const ok = await tempDir()
    const store = await openStore(m.layout, ok)
    await rm(ok, { recursive: true })
    await writeFile(ok, 'now a file')
    const werr = await store.writePiece(0, piece(m, content, 0)).catch((e: unknown) => e)
    expect(werr).toMatchObject({ code: 'STORAGE_IO' })
    expect((werr as Error).message).toContain(join(ok, 'pack'))
    await rm(ok)
    await mkdir(ok)
  })
})
