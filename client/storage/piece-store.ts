import { createHash } from 'node:crypto'
import { type FileHandle, mkdir, open } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import { StorageError, throwIfAborted } from '../../protocol/errors.js'
import type { TorrentLayout } from '../metainfo/metainfo-types.js'
import { fileStamp, readResumeData, writeResumeData } from './fast-resume.js'
import { type CommitResult, PieceWriteThread, type WriteTarget } from './piece-write-thread.js'

/** Resume data is rewritten after this many newly verified pieces (and on close)... */
export const RESUME_SAVE_EVERY_PIECES = 16
/** ...and no more often than every this many bytes of them: each save fsyncs the files. */
export const RESUME_SAVE_EVERY_BYTES = 16 * 1024 * 1024

/** Whole pieces kept after a read, for the requests of their other blocks. */
export const READ_CACHE_PIECES = 8

/** Options of {@link PieceStore.open}. */
export interface PieceStoreOptions {
  signal?: AbortSignal
  /** Where fast-resume data lives. @default `<dir>/.<infoHashHex>.resume` */
  resumeFile?: string
  /** Names the default resume file. @default SHA-1 of the layout's piece hashes */
  infoHashHex?: string
}

interface Span {
  file: number
  /** A BEP 47 pad file: zeros, never read from or written to disk. */
  pad: boolean
  /** Offset inside the file. */
  position: number
  /** Offset inside the caller's buffer. */
  at: number
  length: number
}

/**
 * Verified pieces of one torrent on disk. Data lives at `dir/<name>` (single file) or
 * `dir/<name>/<path...>` (multi-file), as libtorrent and Transmission lay it out; files are created
 * on first write and sized sparsely. A piece is written only after its SHA-1 matched (BEP 3); both the
 * hashing and the write of a downloaded piece run on a {@link PieceWriteThread}, off the main thread.
 * Pieces are fsynced before resume data records them, and only verified pieces are ever recorded or
 * served. Resume data is trusted when every file's size and mtime match what it recorded (no
 * spot-check: any write after the record changes an mtime and forces a full recheck).
 */
export class PieceStore {
  readonly pieceCount: number
  private readonly have: Uint8Array
  private verified = 0
  private readonly handles = new Map<number, Promise<FileHandle>>()
  private readonly paths: string[]
  private sinceSave = 0
  /** Files written since the last fsync: a resume save syncs them before it records any piece. */
  private readonly unsynced = new Set<number>()
  private saving: Promise<void> = Promise.resolve()
  /** Recently read pieces (whole), by index, least recently used first. */
  private readonly readCache = new Map<number, Promise<Uint8Array>>()
  /** Hashes and writes downloaded pieces; started on open when pieces are missing, else on the first one. */
  private writer: PieceWriteThread | undefined
  private closed = false

  private constructor(
    readonly layout: TorrentLayout,
    private readonly resumePath: string,
    root: string,
  ) {
    this.pieceCount = layout.pieceCount
    this.have = new Uint8Array(Math.ceil(layout.pieceCount / 8))
    const base = resolve(root)
    this.paths = layout.files.map((f) => {
      const p = layout.multiFile ? resolve(base, layout.name, ...f.path) : resolve(base, layout.name)
      // Defence in depth: the loader already refused unsafe paths.
      if (!p.startsWith(base + sep)) throw new StorageError('STORAGE_BAD_LAYOUT', `unsafe file path ${p}`)
      return p
    })
  }

  /** Opens a store: trusts matching resume data, else rechecks whatever is on disk. */
  static async open(layout: TorrentLayout, dir: string, opts: PieceStoreOptions = {}): Promise<PieceStore> {
    const id = opts.infoHashHex ?? sha1(layout.pieceHashes).toString('hex')
    const store = new PieceStore(layout, opts.resumeFile ?? join(dir, `.${id}.resume`), dir)
    const resume = await readResumeData(store.resumePath)
    throwIfAborted(opts.signal)
    if (resume && (await store.resumeMatches(resume))) {
      store.have.set(resume.bitfield)
      for (let i = 0; i < store.pieceCount; i++) if (store.has(i)) store.verified++
    } else {
      await store.verifyAll({ signal: opts.signal })
    }
    // Started now, the thread is up by the time the first piece arrives (it takes tens of ms).
    if (store.verified < store.pieceCount) store.writer = new PieceWriteThread()
    return store
  }

  /** Verified pieces as a BEP 3 bitfield (piece 0 is the high bit of byte 0); a copy. */
  bitfield(): Uint8Array {
    return this.have.slice()
  }

  has(index: number): boolean {
    return (
      index >= 0 && index < this.pieceCount && ((this.have[index >> 3] ?? 0) & (0x80 >> (index & 7))) !== 0
    )
  }

  get verifiedCount(): number {
    return this.verified
  }

  /** Bytes in pieces not yet verified. */
  bytesLeft(): number {
    let left = this.layout.length
    for (let i = 0; i < this.pieceCount; i++) if (this.has(i)) left -= this.pieceSize(i)
    return left
  }

  /** Bytes in piece `index`. */
  pieceSize(index: number): number {
    return index === this.pieceCount - 1 ? this.layout.lastPieceLength : this.layout.pieceLength
  }

  /** Reads a block of a verified piece; StorageError 'STORAGE_PIECE_UNAVAILABLE' otherwise. */
  async readBlock(index: number, begin: number, length: number): Promise<Uint8Array> {
    this.assertOpen()
    if (!this.has(index) || begin < 0 || length < 0 || begin + length > this.pieceSize(index)) {
      throw new StorageError(
        'STORAGE_PIECE_UNAVAILABLE',
        `block ${index}:${begin}+${length} is not available`,
      )
    }
    const piece = await this.readPiece(index)
    return piece.subarray(begin, begin + length)
  }

  /**
   * A whole verified piece, read once for all of its blocks: a peer asks for a piece's blocks one
   * after another, so one read of 256 KiB replaces sixteen of 16 KiB. The few latest pieces stay.
   */
  private readPiece(index: number): Promise<Uint8Array> {
    const cached = this.readCache.get(index)
    if (cached) {
      // Most recently used last: Map keeps insertion order.
      this.readCache.delete(index)
      this.readCache.set(index, cached)
      return cached
    }
    const read = this.readSpan(index * this.layout.pieceLength, this.pieceSize(index)).then((out) => {
      if (!out) throw new StorageError('STORAGE_IO', `piece ${index} vanished from disk`)
      return out
    })
    read.catch(() => this.readCache.delete(index))
    this.readCache.set(index, read)
    if (this.readCache.size > READ_CACHE_PIECES) this.readCache.delete(this.readCache.keys().next().value!)
    return read
  }

  /**
   * Stores a whole piece if its SHA-1 matches; returns false and writes nothing otherwise. The piece is
   * served at once; it is fsynced (with every piece written since) before resume data records it.
   * `data` stays the caller's (it is copied for the writing thread); {@link commitPiece} avoids the copy.
   */
  async writePiece(index: number, data: Uint8Array): Promise<boolean> {
    return (await this.commitPiece(index, ownCopy(data))).ok
  }

  /**
   * {@link writePiece} without a copy: takes `data` (copied only if it does not own its whole
   * ArrayBuffer, which is transferred), hashes and writes it off the main thread, and hands the buffer
   * back in the result. `ok` says whether the piece matched its hash and is now stored.
   */
  async commitPiece(index: number, data: Uint8Array): Promise<CommitResult> {
    this.assertOpen()
    if (index < 0 || index >= this.pieceCount || data.length !== this.pieceSize(index)) {
      return { ok: false, data }
    }
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = ownCopy(data)
    const hash = this.layout.pieceHashes.subarray(index * 20, index * 20 + 20)
    const spans = [...this.spans(index * this.layout.pieceLength, data.length)].filter((s) => !s.pad)
    // A file is created by its first piece, and only by a good one: that piece is checked here first.
    if (spans.some((s) => !this.handles.has(s.file)) && !sha1(data).equals(hash)) return { ok: false, data }
    const targets: WriteTarget[] = []
    const files: number[] = []
    if (!this.has(index)) {
      for (const s of spans) {
        await this.handle(s.file, true)
        files.push(s.file)
        targets.push({ path: this.paths[s.file]!, position: s.position, at: s.at, length: s.length })
      }
    }
    this.writer ??= new PieceWriteThread()
    // A copy: posting a view would copy the whole buffer under it (all the piece hashes).
    const result = await this.writer.commit(data, ownCopy(hash), targets).catch((err: StorageError) => {
      throw this.closed ? new StorageError('STORAGE_IO', 'piece store is closed', { cause: err }) : err
    })
    if (!result.ok || this.has(index)) return result
    for (const f of files) this.unsynced.add(f)
    this.have[index >> 3]! |= 0x80 >> (index & 7)
    this.verified++
    if (this.verified === this.pieceCount) await this.createEmptyFiles()
    const everyPieces = Math.max(
      RESUME_SAVE_EVERY_PIECES,
      Math.ceil(RESUME_SAVE_EVERY_BYTES / this.layout.pieceLength),
    )
    if (++this.sinceSave >= everyPieces || this.verified === this.pieceCount) {
      await this.saveResume()
    }
    return result
  }

  /** Rehashes every piece on disk (a full recheck), then records the result as resume data. */
  async verifyAll(opts: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}) {
    this.assertOpen()
    this.have.fill(0)
    this.verified = 0
    this.readCache.clear()
    const missing = new Set<number>()
    for (let i = 0; i < this.pieceCount; i++) {
      throwIfAborted(opts.signal)
      const data = await this.readSpan(i * this.layout.pieceLength, this.pieceSize(i), missing)
      if (data) {
        if (sha1(data).equals(this.layout.pieceHashes.subarray(i * 20, i * 20 + 20))) {
          this.have[i >> 3]! |= 0x80 >> (i & 7)
          this.verified++
        }
      }
      opts.onProgress?.(i + 1, this.pieceCount)
    }
    if (this.verified === this.pieceCount) await this.createEmptyFiles()
    await this.saveResume()
  }

  /** Writes resume data and closes every file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    await this.writer?.close()
    await this.saveResume()
    this.closed = true
    const handles = [...this.handles.values()]
    this.handles.clear()
    for (const h of handles) await (await h.catch(() => undefined))?.close()
  }

  /** Zero-length files hold no piece, so they are created once the rest is complete. */
  private async createEmptyFiles(): Promise<void> {
    for (const [i, f] of this.layout.files.entries()) if (f.length === 0 && !f.pad) await this.handle(i, true)
  }

  /** Records verified pieces; serialised so two saves never interleave. */
  private saveResume(): Promise<void> {
    const run = async () => {
      // Snapshot first, then fsync: every piece in the snapshot was written before it, so the sync
      // covers it, and the record below never claims a piece that is not durably on disk.
      const bitfield = this.bitfield()
      this.sinceSave = 0
      const dirty = [...this.unsynced]
      this.unsynced.clear()
      for (const f of dirty) {
        const fh = await this.handle(f, true)
        await this.io(f, 'fsync', () => fh!.sync())
      }
      const files = []
      for (const [i, p] of this.paths.entries()) files.push(await this.stamp(i, p))
      await writeResumeData(this.resumePath, {
        pieceCount: this.pieceCount,
        pieceLength: this.layout.pieceLength,
        bitfield,
        files,
      })
    }
    this.saving = this.saving.then(run, run)
    return this.saving
  }

  private async resumeMatches(r: {
    pieceCount: number
    pieceLength: number
    bitfield: Uint8Array
    files: { size: number; mtimeUs: number }[]
  }): Promise<boolean> {
    if (r.pieceCount !== this.pieceCount || r.pieceLength !== this.layout.pieceLength) return false
    if (r.bitfield.length !== this.have.length || r.files.length !== this.paths.length) return false
    for (const [i, p] of this.paths.entries()) {
      const now = await this.stamp(i, p)
      const then = r.files[i]!
      if (now.size !== then.size || now.mtimeUs !== then.mtimeUs) return false
    }
    return true
  }

  /** A file's size and mtime for resume data; pad files are not on disk and stamp as nothing. */
  private stamp(file: number, path: string): Promise<{ size: number; mtimeUs: number }> {
    return this.layout.files[file]!.pad ? Promise.resolve({ size: 0, mtimeUs: 0 }) : fileStamp(path)
  }

  /**
   * Reads a byte range of the torrent; undefined if any part is missing or short on disk. Files found
   * missing are added to `missing`, and a range touching one of those is not tried again (a recheck
   * of a fresh download would otherwise try to open the absent files once per piece).
   */
  private async readSpan(
    offset: number,
    length: number,
    missing?: Set<number>,
  ): Promise<Uint8Array | undefined> {
    const parts: { span: Span; fh: FileHandle }[] = []
    for (const span of this.spans(offset, length)) {
      if (span.pad) continue // zeros, as the buffer already is
      if (missing?.has(span.file)) return undefined
      const fh = await this.handle(span.file, false)
      if (!fh) {
        missing?.add(span.file)
        return undefined
      }
      parts.push({ span, fh })
    }
    const out = new Uint8Array(length)
    for (const { span: s, fh } of parts) {
      const { bytesRead } = await this.io(s.file, 'read', () => fh.read(out, s.at, s.length, s.position))
      if (bytesRead !== s.length) return undefined
    }
    return out
  }

  private *spans(offset: number, length: number): Generator<Span> {
    const end = offset + length
    for (const [file, f] of this.layout.files.entries()) {
      const from = Math.max(offset, f.offset)
      const to = Math.min(end, f.offset + f.length)
      if (from < to)
        yield { file, pad: f.pad === true, position: from - f.offset, at: from - offset, length: to - from }
    }
  }

  /** The open handle of a file; created (sparse, full size) only when `create` is set. */
  private async handle(file: number, create: boolean): Promise<FileHandle | undefined> {
    const open_ = this.handles.get(file)
    if (open_) return open_
    const path = this.paths[file]!
    let fh: FileHandle
    try {
      fh = await open(path, 'r+')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('open', path, err)
      if (!create) return undefined
      try {
        await mkdir(dirname(path), { recursive: true })
        fh = await open(path, 'a+').then(async (h) => {
          await h.close()
          return open(path, 'r+')
        })
      } catch (e) {
        throw ioError('create', path, e)
      }
    }
    const size = this.layout.files[file]!.length
    try {
      if ((await fh.stat()).size < size) await fh.truncate(size)
    } catch (err) {
      await fh.close()
      throw ioError('size', path, err)
    }
    // Another caller may have raced us here; keep the first handle.
    const existing = this.handles.get(file)
    if (existing) {
      await fh.close()
      return existing
    }
    this.handles.set(file, Promise.resolve(fh))
    return fh
  }

  private async io<T>(file: number, op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw ioError(op, this.paths[file]!, err)
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError('STORAGE_IO', 'piece store is closed')
  }
}

const sha1 = (data: Uint8Array) => createHash('sha1').update(data).digest()

/** A copy of `data` in an ArrayBuffer of its own (Buffer's `slice` would share the memory). */
const ownCopy = (data: Uint8Array) => Uint8Array.prototype.slice.call(data)

function ioError(op: string, path: string, err: unknown): StorageError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
  return new StorageError('STORAGE_IO', `cannot ${op} ${path}: ${code}`, { cause: err })
}
