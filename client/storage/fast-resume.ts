import { open, rename, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { decodeBencode, encodeBencode, isBencodeDict } from '../../protocol/bencode-codec.js'
import { StorageError } from '../../protocol/errors.js'

/**
 * Fast-resume data: which pieces are verified, and the size and mtime of each file when that was
 * recorded. It is trusted on open only if every file still has that size and mtime; otherwise the
 * store rechecks everything. Written atomically (temp file, fsync, rename, fsync of the directory),
 * and only ever with pieces whose data was fsynced first, so it never claims a piece not on disk.
 */
export interface ResumeData {
  pieceCount: number
  pieceLength: number
  /** BEP 3 bitfield of verified pieces. */
  bitfield: Uint8Array
  /** Per file: size in bytes and mtime in microseconds (a safe integer), or -1/-1 for a file not yet created. */
  files: { size: number; mtimeUs: number }[]
}

const RESUME_VERSION = 1

/** Reads resume data; undefined if missing or unreadable (a recheck follows either way). */
export async function readResumeData(path: string): Promise<ResumeData | undefined> {
  let raw: Uint8Array
  try {
    const fh = await open(path, 'r')
    try {
      raw = await fh.readFile()
    } finally {
      await fh.close()
    }
  } catch {
    return undefined
  }
  try {
    const d = decodeBencode(raw)
    if (!isBencodeDict(d) || d.version !== RESUME_VERSION) return undefined
    const { bitfield, files } = d
    if (typeof d['piece count'] !== 'number' || typeof d['piece length'] !== 'number') return undefined
    if (!(bitfield instanceof Uint8Array) || !Array.isArray(files)) return undefined
    const parsed = files.map((f) => {
      if (!isBencodeDict(f) || typeof f.size !== 'number' || typeof f.mtime !== 'number')
        throw new Error('bad')
      return { size: f.size, mtimeUs: f.mtime }
    })
    return { pieceCount: d['piece count'], pieceLength: d['piece length'], bitfield, files: parsed }
  } catch {
    return undefined
  }
}

/** Writes resume data atomically: temp file, fsync, rename over the old one, fsync the directory. */
export async function writeResumeData(path: string, data: ResumeData): Promise<void> {
  const bytes = encodeBencode({
    version: RESUME_VERSION,
    'piece count': data.pieceCount,
    'piece length': data.pieceLength,
    bitfield: data.bitfield,
    files: data.files.map((f) => ({ size: f.size, mtime: f.mtimeUs })),
  })
  const tmp = `${path}.tmp`
  try {
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(bytes)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
    const dir = await open(dirname(path), 'r')
    try {
      await dir.sync()
    } catch {
      // Some filesystems refuse fsync on a directory; the rename is still atomic.
    } finally {
      await dir.close()
    }
  } catch (err) {
    throw new StorageError('STORAGE_IO', `cannot write resume data ${path}: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

/** Size and mtime (µs) of a file, or -1/-1 if it does not exist. */
export async function fileStamp(path: string): Promise<{ size: number; mtimeUs: number }> {
  try {
    const s = await stat(path, { bigint: true })
    return { size: Number(s.size), mtimeUs: Number(s.mtimeNs / 1000n) }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { size: -1, mtimeUs: -1 }
    throw new StorageError('STORAGE_IO', `cannot stat ${path}: ${(err as Error).message}`, { cause: err })
  }
}
