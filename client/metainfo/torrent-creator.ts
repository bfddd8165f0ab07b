import { stat } from 'node:fs/promises'
import createTorrentPackage, { type ParsedInputFile, parseInput } from 'create-torrent'
import { throwIfAborted, UsageError } from '../../protocol/errors.js'
import { isWebSeedUrl } from './web-seed-url.js'

/** Smallest automatic piece length: one BEP 3 block. */
export const MIN_PIECE_LENGTH_BYTES = 16 * 1024
/** Largest automatic piece length, as libtorrent's `create_torrent` caps it. */
export const MAX_AUTO_PIECE_LENGTH_BYTES = 16 * 1024 * 1024
/** Largest piece length accepted from the user; a piece is held in memory while it is hashed. */
export const MAX_PIECE_LENGTH_BYTES = 128 * 1024 * 1024
/** Automatic piece length aims at no more than this many pieces (and more than half of it). */
export const TARGET_PIECE_COUNT = 2048

/** Options of {@link createTorrent}. */
export interface CreateTorrentOptions {
  /** Tracker tiers (BEP 12); `announce` is the first URL of the first tier. @default [] (trackerless) */
  trackers?: string[][]
  /** BEP 27 private flag. @default false */
  private?: boolean
  /** Bytes per piece: a power of two, 16 KiB..128 MiB. @default automatic, see {@link autoPieceLength} */
  pieceLength?: number
  /** Free text stored in the .torrent. @default none */
  comment?: string
  /** BEP 19 web seeds (`url-list`): http(s) URLs of servers holding the files. @default none */
  webSeeds?: string[]
  signal?: AbortSignal
}

/**
 * The automatic piece length: the smallest power of two giving at most {@link TARGET_PIECE_COUNT}
 * pieces (so 1,025-2,048 pieces for mid-sized content), clamped to 16 KiB..16 MiB.
 */
export function autoPieceLength(totalBytes: number): number {
  let len = MIN_PIECE_LENGTH_BYTES
  while (len < MAX_AUTO_PIECE_LENGTH_BYTES && len * TARGET_PIECE_COUNT < totalBytes) len *= 2
  return len
}

/**
 * Hashes a file or directory into .torrent bytes (BEP 3; hidden and junk files in directories are
 * skipped, as the create-torrent package does). A file gives a single-file torrent, a directory a
 * multi-file one named after it. Throws UsageError for a missing path, an empty directory or a bad option.
 */
export async function createTorrent(path: string, options: CreateTorrentOptions = {}): Promise<Uint8Array> {
  const { signal } = options
  const trackers = (options.trackers ?? [])
    .map((tier) => tier.map(checkTrackerUrl))
    .filter((t) => t.length > 0)
  if (options.pieceLength !== undefined) checkPieceLength(options.pieceLength)
  const webSeeds = (options.webSeeds ?? []).map(checkWebSeedUrl)
  try {
    await stat(path)
  } catch (err) {
    throwIfAborted(signal)
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    throw new UsageError('USAGE_NOT_FOUND', `cannot read ${path}: ${code}`, { cause: err })
  }
  throwIfAborted(signal)
  const files = await new Promise<ParsedInputFile[]>((resolve, reject) =>
    parseInput(path, {}, (err, f) => (err ? reject(ioError(path, err)) : resolve(f))),
  )
  throwIfAborted(signal)
  const total = files.reduce((n, f) => n + f.length, 0)
  if (files.length === 0 || total === 0) {
    throw new UsageError('USAGE_BAD_ARGUMENT', `${path} holds no data to share (empty, or only hidden files)`)
  }
  const pieceLength = options.pieceLength ?? autoPieceLength(total)
  const torrent = new Promise<Uint8Array>((resolve, reject) =>
    createTorrentPackage(
      path,
      {
        // An explicit (possibly empty) list: without one the package adds public trackers of its own.
        announceList: trackers,
        pieceLength,
        maxPieceLength: MAX_PIECE_LENGTH_BYTES,
        createdBy: 'punchswarm/0.1.0',
        ...(options.private ? { private: true } : {}),
        ...(options.comment !== undefined ? { comment: options.comment } : {}),
        ...(webSeeds.length > 0 ? { urlList: webSeeds } : {}),
      },
      (err, bytes) => (err ? reject(ioError(path, err)) : resolve(new Uint8Array(bytes))),
    ),
  )
  if (!signal) return torrent
  // The package cannot be cancelled; an abort stops the wait, and the hashing finishes unobserved.
  return Promise.race([
    torrent,
    new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason)
      signal.addEventListener('abort', () => reject(signal.reason), { once: true })
    }),
  ])
}

function checkTrackerUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UsageError('USAGE_BAD_ARGUMENT', `tracker URL "${url}" is not a URL`)
  }
  if (!['http:', 'https:', 'udp:', 'ws:', 'wss:'].includes(parsed.protocol)) {
    throw new UsageError('USAGE_BAD_ARGUMENT', `tracker URL "${url}" must be http(s)://, udp:// or ws(s)://`)
  }
  return url
}

function checkWebSeedUrl(url: string): string {
  if (!isWebSeedUrl(url))
    throw new UsageError('USAGE_BAD_ARGUMENT', `web seed "${url}" must be an http(s):// URL`)
  return url
}

function checkPieceLength(n: number): void {
  const pow2 = Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0
  if (!pow2 || n < MIN_PIECE_LENGTH_BYTES || n > MAX_PIECE_LENGTH_BYTES) {
    throw new UsageError(
      'USAGE_BAD_ARGUMENT',
      `piece length ${n} must be a power of two from ${MIN_PIECE_LENGTH_BYTES} to ${MAX_PIECE_LENGTH_BYTES}`,
    )
  }
}

function ioError(path: string, err: Error): UsageError {
  return new UsageError('USAGE_NOT_FOUND', `cannot read ${path}: ${err.message}`, { cause: err })
}
