import { LibtorrentPeer } from '../../test/helpers/libtorrent-peer.js'
import type { Cpu } from './messages.js'
import { cpuOf } from './proc.js'

/** CPU seconds a libtorrent driver process (all of libtorrent's threads) used so far. */
export function libtorrentCpu(peer: LibtorrentPeer): Cpu {
  return cpuOf(peer.pid)
}

/** Makes a .torrent of `path` with libtorrent itself (no trackers: peers are connected by hand). */
export async function createLibtorrentTorrent(path: string, out: string): Promise<void> {
  await LibtorrentPeer.create(path, out, [])
}
