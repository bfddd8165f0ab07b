import { LibtorrentPeer, type LtEvent, type LtPeerStatus } from '../../test/helpers/libtorrent-peer.js'
import { track } from '../bench-run.js'
import { stallWatch, until } from '../bench-wait.js'
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

/** What one timed libtorrent-to-libtorrent download cost. */
export interface LibtorrentTiming {
  seconds: number
  /** CPU of the seeder's and the leecher's processes over the download. */
  seeder: Cpu
  leecher: Cpu
  /** The same from the first status report at or past a quarter of the bytes to the end. */
  late?: LateSpan
}

/** The part of a transfer after its first quarter: its bytes, time and the CPU of both ends. */
export interface LateSpan {
  seconds: number
  bytes: number
  seeder: Cpu
  leecher: Cpu
}

export const minusCpu = (a: Cpu, b: Cpu): Cpu => ({ user: a.user - b.user, system: a.system - b.system })

/**
 * Times one download between two started libtorrent drivers: connects the leecher to the seeder and
 * waits for 'finished', failing on a driver error or exit, a stall of `stallMs`, or after `capMs`.
 * Call once both are ready (seeding, downloading) so the clock covers the transfer only.
 */
export async function timeLibtorrentDownload(
  seeder: LibtorrentPeer,
  leecher: LibtorrentPeer,
  o: { seedPort: number; bytes: number; stallMs: number; capMs: number },
): Promise<LibtorrentTiming> {
  const cpu0 = [libtorrentCpu(seeder), libtorrentCpu(leecher)] as const
  const t0 = performance.now()
  leecher.connect('127.0.0.1', o.seedPort)
  const isFinished = (e: { event: string }) => e.event === 'finished'
  let cpu1: readonly [Cpu, Cpu] | undefined
  const quarter = (e: LtEvent) => e.event === 'status' && e.downloaded >= o.bytes / 4
  // CPU is read on the poll after the report arrives (20 ms at most later).
  let mark: { at: number; bytes: number; cpu: readonly [Cpu, Cpu] } | undefined
  const downloaded = () =>
    (leecher.last((e) => e.event === 'status') as LtPeerStatus | undefined)?.downloaded ?? 0
  const stalled = stallWatch(
    downloaded,
    () => `leecher status ${JSON.stringify(leecher.events.at(-1))}`,
    o.stallMs,
    o.bytes,
  )
  await until(
    () => {
      const finished = leecher.timeOf(isFinished) !== undefined
      // A quarter first seen together with the end has no CPU reading of its own: no late span.
      const i = mark || finished ? -1 : leecher.events.findIndex(quarter)
      if (i >= 0) {
        const bytes = (leecher.events[i] as LtPeerStatus).downloaded
        mark = { at: leecher.times[i]!, bytes, cpu: [libtorrentCpu(seeder), libtorrentCpu(leecher)] }
      }
      if (!finished) return false
      cpu1 ??= [libtorrentCpu(seeder), libtorrentCpu(leecher)]
      return true
    },
    () => {
      const err = leecher.last((e) => e.event === 'error') ?? seeder.last((e) => e.event === 'error')
      if (err) return `libtorrent error: ${JSON.stringify(err)}`
      if (leecher.child.exitCode !== null || seeder.child.exitCode !== null) return 'libtorrent driver exited'
      return stalled()
    },
    o.capMs,
  )
  const end = leecher.timeOf(isFinished)!
  return {
    seconds: (end - t0) / 1000,
    seeder: minusCpu(cpu1![0], cpu0[0]),
    leecher: minusCpu(cpu1![1], cpu0[1]),
    ...(mark
      ? {
          late: {
            seconds: (end - mark.at) / 1000,
            bytes: o.bytes - Math.min(mark.bytes, o.bytes),
            seeder: minusCpu(cpu1![0], mark.cpu[0]),
            leecher: minusCpu(cpu1![1], mark.cpu[1]),
          },
        }
      : {}),
  }
}

/**
 * Starts a libtorrent seeder and leecher (killed with the bench if it ends first) and waits until the
 * seeder seeds and the leecher is downloading, not yet connected: ready for `timeLibtorrentDownload`.
 */
export async function startLibtorrentPair(o: {
  torrent: string
  transport: 'utp' | 'tcp'
  buffers: number
  seedDir: string
  leechDir: string
  readyMs: number
}): Promise<{ seeder: LibtorrentPeer; leecher: LibtorrentPeer; seedPort: number }> {
  const options = {
    torrent: o.torrent,
    utp: o.transport === 'utp',
    tcp: o.transport === 'tcp',
    buffers: o.buffers,
  }
  const seeder = LibtorrentPeer.start({ ...options, save: o.seedDir, seed: true })
  const leecher = LibtorrentPeer.start({ ...options, save: o.leechDir, seed: false })
  track(seeder.child)
  track(leecher.child)
  try {
    const seedPort = await seeder.port()
    const status = (p: LibtorrentPeer, pred: (e: LtPeerStatus) => boolean) =>
      p.waitFor((e) => e.event === 'status' && pred(e as LtPeerStatus), o.readyMs)
    await Promise.all([
      status(seeder, (e) => e.seeding === true),
      status(leecher, (e) => e.state === 'downloading'),
    ])
    return { seeder, leecher, seedPort }
  } catch (err) {
    await Promise.all([seeder.stop(), leecher.stop()])
    throw err
  }
}
