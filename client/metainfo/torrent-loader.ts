import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import {
  type BencodeDict,
  type BencodeValue,
  bencodeText,
  decodeBencodeWithSpan,
  encodeBencode,
  isBencodeDict,
} from '../../protocol/bencode-codec.js'
import { ProtocolError, throwIfAborted, UsageError } from '../../protocol/errors.js'
import type { Metainfo, TorrentFile, TorrentLayout } from './metainfo-types.js'
import { isWebSeedUrl } from './web-seed-url.js'

/** Bytes in one SHA-1 piece hash (BEP 3). */
export const PIECE_HASH_BYTES = 20
/** .torrent files larger than this are refused before parsing (libtorrent's default limit is lower). */
export const MAX_TORRENT_FILE_BYTES = 64 * 1024 * 1024

/**
 * Reads and validates a .torrent: a path to one, or its raw bytes. Throws UsageError
 * 'USAGE_BAD_TORRENT' with a one-line reason for anything unreadable, malformed or unsafe.
 */
export async function loadTorrent(
  input: string | Uint8Array,
  opts: { signal?: AbortSignal } = {},
): Promise<Metainfo> {
  let bytes: Uint8Array
  if (typeof input === 'string') {
    try {
      bytes = await readFile(input, { signal: opts.signal })
    } catch (err) {
      throwIfAborted(opts.signal)
      const code = (err as NodeJS.ErrnoException).code ?? String(err)
      throw new UsageError('USAGE_BAD_TORRENT', `cannot read torrent file ${input}: ${code}`, { cause: err })
    }
  } else {
    bytes = input
  }
  throwIfAborted(opts.signal)
  return parseTorrentBytes(bytes)
}

/** Parses .torrent bytes synchronously; see {@link loadTorrent}. */
export function parseTorrentBytes(bytes: Uint8Array): Metainfo {
  if (bytes.length > MAX_TORRENT_FILE_BYTES)
    bad(`torrent file is larger than ${MAX_TORRENT_FILE_BYTES} bytes`)
  let root: BencodeValue
  let infoBytes: Uint8Array | undefined
  try {
    const decoded = decodeBencodeWithSpan(bytes, 'info')
    root = decoded.value
    infoBytes = decoded.span
  } catch (err) {
    bad(`not a bencoded torrent: ${(err as Error).message}`, err)
  }
  if (!isBencodeDict(root)) bad('torrent is not a dictionary')
  if (!infoBytes) bad('torrent has no info dictionary')
  const announce = announceTiers(root)
  const comment = bencodeText(root.comment)
  const webSeeds = webSeedUrls(root['url-list'])
  const m = buildMetainfo(Uint8Array.from(infoBytes), announce, Uint8Array.from(bytes))
  return {
    ...m,
    ...(comment === undefined ? {} : { comment }),
    ...(webSeeds.length > 0 ? { webSeeds } : {}),
  }
}

/** BEP 19 `url-list`: one URL or a list; anything but an http(s) URL is left out. */
function webSeedUrls(value: BencodeValue | undefined): string[] {
  const items = Array.isArray(value) ? value : value === undefined ? [] : [value]
  const urls: string[] = []
  for (const item of items) {
    const text = bencodeText(item)
    if (text !== undefined && isWebSeedUrl(text) && !urls.includes(text)) urls.push(text)
  }
  return urls
}

/**
 * Builds a Metainfo from an info dict fetched over ut_metadata (BEP 9) for a magnet download. If
 * `expectedInfoHash` is given, the dict's SHA-1 must match it (ProtocolError 'PROTOCOL_HASH_MISMATCH').
 */
export function metainfoFromInfoDict(
  info: Uint8Array,
  trackers: string[][],
  expectedInfoHash?: Uint8Array,
): Metainfo {
  if (expectedInfoHash) {
    const got = sha1(info)
    if (!Buffer.from(got).equals(Buffer.from(expectedInfoHash))) {
      throw new ProtocolError(
        'PROTOCOL_HASH_MISMATCH',
        `info dict hashes to ${Buffer.from(got).toString('hex')}, expected ${Buffer.from(expectedInfoHash).toString('hex')}`,
      )
    }
  }
  const tiers = trackers.map((t) => t.filter((u) => u.length > 0)).filter((t) => t.length > 0)
  // Splice the raw info bytes in: the info hash must stay the hash of exactly these bytes.
  const head: Record<string, string | string[][]> = {}
  if (tiers[0]?.[0]) head.announce = tiers[0][0]
  if (tiers.length > 0) head['announce-list'] = tiers
  const prefix = encodeBencode(head)
  const torrentBytes = Buffer.concat([
    prefix.subarray(0, prefix.length - 1),
    Buffer.from('4:info'),
    info,
    Buffer.from('e'),
  ])
  return buildMetainfo(Uint8Array.from(info), tiers, Uint8Array.from(torrentBytes))
}

function buildMetainfo(infoBytes: Uint8Array, announce: string[][], torrentBytes: Uint8Array): Metainfo {
  let info: BencodeValue
  try {
    info = decodeBencodeWithSpan(infoBytes).value
  } catch (err) {
    bad(`info dictionary is not bencoded: ${(err as Error).message}`, err)
  }
  if (!isBencodeDict(info)) bad('info is not a dictionary')
  const layout = parseLayout(info)
  const infoHash = sha1(infoBytes)
  return {
    infoHash,
    infoHashHex: Buffer.from(infoHash).toString('hex'),
    name: layout.name,
    announce,
    private: info.private === 1,
    infoBytes,
    layout,
    torrentBytes,
  }
}

/** Validates an info dict's layout (BEP 3): piece length, hashes, and file paths that stay inside. */
export function parseLayout(info: BencodeDict): TorrentLayout {
  const name = bencodeText(info['name.utf-8']) ?? bencodeText(info.name)
  if (name === undefined) bad('info has no name')
  checkSegment(name, 'name')
  const pieceLength = info['piece length']
  if (typeof pieceLength !== 'number' || pieceLength <= 0) bad('piece length must be a positive integer')
  const pieces = info.pieces
  if (!(pieces instanceof Uint8Array)) bad('info has no pieces string')
  if (pieces.length % PIECE_HASH_BYTES !== 0) bad(`pieces length ${pieces.length} is not a multiple of 20`)

  const files: TorrentFile[] = []
  const multiFile = info.files !== undefined
  let offset = 0
  if (multiFile) {
    if (!Array.isArray(info.files) || info.files.length === 0) bad('files must be a non-empty list')
    const seenFiles = new Set<string>()
    const seenDirs = new Set<string>()
    for (const f of info.files) {
      if (!isBencodeDict(f)) bad('a files entry is not a dictionary')
      const length = fileLength(f.length)
      const raw = Array.isArray(f['path.utf-8']) ? f['path.utf-8'] : f.path
      if (!Array.isArray(raw) || raw.length === 0) bad('a file has no path')
      const path = raw.map((seg) => {
        const s = bencodeText(seg)
        if (s === undefined) bad('a file path segment is not a string')
        checkSegment(s, 'file path')
        return s
      })
      // BEP 47 pad files (libtorrent 2 adds them to every multi-file torrent) often share a path
      // such as `.pad/16384`; they are never on disk, so only real files are checked for conflicts.
      if (bencodeText(f.attr)?.includes('p')) {
        files.push({ path, length, offset, pad: true })
        offset += length
        continue
      }
      // A path may not repeat, nor be both a file and a directory of another file ('a' and 'a/b').
      const full = path.join('/')
      const prefixes = path.slice(0, -1).map((_, i) => path.slice(0, i + 1).join('/'))
      if (seenFiles.has(full) || seenDirs.has(full) || prefixes.some((p) => seenFiles.has(p))) {
        bad(`conflicting file path ${full}`)
      }
      seenFiles.add(full)
      for (const p of prefixes) seenDirs.add(p)
      files.push({ path, length, offset })
      offset += length
    }
  } else {
    const length = fileLength(info.length)
    files.push({ path: [name], length, offset: 0 })
    offset = length
  }
  if (!Number.isSafeInteger(offset)) bad('torrent is too large')
  if (offset === 0) bad('torrent has no data')
  const pieceCount = Math.ceil(offset / pieceLength)
  if (pieces.length / PIECE_HASH_BYTES !== pieceCount) {
    bad(`torrent has ${pieces.length / PIECE_HASH_BYTES} piece hashes but ${pieceCount} pieces`)
  }
  return {
    pieceLength,
    length: offset,
    pieceCount,
    lastPieceLength: offset - (pieceCount - 1) * pieceLength,
    pieceHashes: Uint8Array.from(pieces),
    files,
    multiFile,
    name,
  }
}

function fileLength(v: BencodeValue | undefined): number {
  if (typeof v !== 'number' || v < 0) bad('file length must be a non-negative integer')
  return v
}

/** A segment must name one entry inside its directory: a torrent never writes outside its download dir. */
function checkSegment(s: string, what: string): void {
  if (s === '' || s === '.' || s === '..') bad(`unsafe ${what} "${s}"`)
  if (/[/\\\0]/.test(s) || /^[a-zA-Z]:/.test(s)) bad(`unsafe ${what} "${s}"`)
}

function announceTiers(root: BencodeDict): string[][] {
  const list = root['announce-list']
  if (Array.isArray(list)) {
    const tiers = list
      .map((tier) =>
        Array.isArray(tier) ? tier.map((u) => bencodeText(u) ?? '').filter((u) => u !== '') : [],
      )
      .filter((tier) => tier.length > 0)
    if (tiers.length > 0) return tiers
  }
  const one = bencodeText(root.announce)
  return one ? [[one]] : []
}

function sha1(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(bytes).digest())
}

function bad(reason: string, cause?: unknown): never {
  throw new UsageError(
    'USAGE_BAD_TORRENT',
    `bad torrent: ${reason}`,
    cause === undefined ? undefined : { cause },
  )
}
