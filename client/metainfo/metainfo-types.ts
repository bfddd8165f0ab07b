/**
 * What a torrent describes, once parsed and validated (BEP 3, BEP 12 announce-list, BEP 27 private).
 * Everything downstream (storage, swarm, tracker announcer) works from these two types.
 */

/** One file of a torrent, in the order of the info dict (BEP 3 `files`). */
export interface TorrentFile {
  /** Path segments under the torrent's directory; validated: no '..', no empty or absolute segments. */
  path: string[]
  /** Bytes. */
  length: number
  /** Byte offset of the file's first byte in the torrent's concatenated data. */
  offset: number
  /** BEP 47 pad file (`attr` has 'p'): zeros that align the next file to a piece; never on disk. */
  pad?: boolean
}

/** How the torrent's bytes are cut into pieces and spread over files. */
export interface TorrentLayout {
  /** Bytes per piece (the last piece may be shorter). */
  pieceLength: number
  /** Total bytes of all files. */
  length: number
  pieceCount: number
  /** Bytes in the last piece: `pieceLength` when `length` is a multiple of it. */
  lastPieceLength: number
  /** SHA-1 of each piece, 20 bytes each, concatenated. */
  pieceHashes: Uint8Array
  /** For single-file torrents, one file whose path is `[name]`. */
  files: TorrentFile[]
  /** True when the info dict has `files` (BEP 3 multi-file mode): data lives under `dir/<name>/`. */
  multiFile: boolean
  /** The torrent's name (BEP 3 `name`), already checked to be one safe path segment. */
  name: string
}

/** A parsed .torrent, or a magnet download once its info dict arrived (BEP 9). */
export interface Metainfo {
  /** SHA-1 of the bencoded info dict, exactly as the bytes appear in the .torrent. */
  infoHash: Uint8Array
  infoHashHex: string
  name: string
  /** Tracker tiers (BEP 12); a lone `announce` becomes one tier of one URL. */
  announce: string[][]
  /** BEP 27: only the torrent's trackers may be used to find peers. */
  private: boolean
  /** The bencoded info dict, byte for byte, for serving ut_metadata (BEP 9). */
  infoBytes: Uint8Array
  layout: TorrentLayout
  /** The whole .torrent file (synthesised from the info dict for magnet downloads). */
  torrentBytes: Uint8Array
  /** BEP 3 `comment`, when present. */
  comment?: string
  /** BEP 19 `url-list`: HTTP(S) servers holding the torrent's files (only http and https URLs kept). */
  webSeeds?: string[]
}

/** A parsed magnet link (BEP 9). */
export interface MagnetLink {
  infoHash: Uint8Array
  infoHashHex: string
  /** `dn`: display name, if given. */
  name?: string
  /** `tr`: tracker URLs, in link order. */
  trackers: string[]
  /** `x.pe`: peers to contact directly. */
  peers: { address: string; port: number }[]
  /** `ws` (BEP 19): web seeds, http(s) only. */
  webSeeds?: string[]
}
