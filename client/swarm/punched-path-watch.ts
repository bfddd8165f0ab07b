import type { Duplex } from 'node:stream'
import type Wire from 'bittorrent-protocol'
import type { Clock, TimerHandle } from '../../protocol/clock.js'
import { TransportError } from '../../protocol/errors.js'

/** How often the watch looks at the punched paths. */
export const PATH_CHECK_MS = 1_000
/**
 * A punched path that brought nothing for this long while we wait on it (blocks asked for, data the
 * peer does not take, requests from an interested peer we unchoked) makes the client check its own mapping with the tracker at once.
 */
export const PATH_SILENT_MS = 5_000
/**
 * A punched path that brought none of the blocks asked for in this long is taken for dead (a NAT on
 * the way lost its mapping) and closed, so the peer is punched to again. uTP alone would not notice
 * on the side that only waits: it times out only data it sent itself.
 */
export const PATH_DEAD_MS = 12_000

interface Watched {
  stream: Duplex
  wire: Wire
  lastHeardAt: number
  checked: boolean
}

/**
 * Watches uTP connections (the transport of punched paths; a plain uTP dial to a peer behind NAT also
 * rides a punched hole), which die silently when a router loses its mapping (restart, `conntrack -F`): a silent path asks for a mapping check (`onSilent`), a dead one
 * is closed (its owner's close handler then punches again), and `closeAll()` closes every one when
 * the client's own mapping changed (each peer still sends to the old one).
 */
export class PunchedPathWatch {
  private readonly watched = new Set<Watched>()
  private timer: TimerHandle | undefined

  constructor(private readonly deps: { clock: Clock; onSilent: () => void }) {}

  watch(stream: Duplex, wire: Wire): void {
    const w: Watched = { stream, wire, lastHeardAt: this.deps.clock.now(), checked: false }
    this.watched.add(w)
    stream.on('data', () => {
      w.lastHeardAt = this.deps.clock.now()
      w.checked = false
    })
    stream.once('close', () => this.watched.delete(w))
    this.timer ??= this.deps.clock.setTimer(PATH_CHECK_MS, () => this.check())
  }

  get size(): number {
    return this.watched.size
  }

  /** Closes every watched connection (our public endpoint changed: every punched path is dead). */
  closeAll(reason: string): void {
    for (const w of [...this.watched]) w.stream.destroy(new TransportError('TRANSPORT_CLOSED', reason))
  }

  stop(): void {
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer)
    this.timer = undefined
    this.watched.clear()
  }

  private check(): void {
    this.timer = undefined
    const now = this.deps.clock.now()
    let silent = false
    for (const w of [...this.watched]) {
      const awaitingBlocks = w.wire.requests.length > 0
      // Silence counts only while we wait on the peer (for blocks, for it to take our data, or for the
      // next requests of an interested peer we serve): an idle connection is quiet by right.
      const serving = w.wire.peerInterested && !w.wire.amChoking
      if (!awaitingBlocks && !serving && w.stream.writableLength === 0 && w.wire.peerRequests.length === 0) {
        w.lastHeardAt = now
        continue
      }
      const quiet = now - w.lastHeardAt
      if (awaitingBlocks && quiet >= PATH_DEAD_MS) {
        w.stream.destroy(new TransportError('TRANSPORT_TIMEOUT', `punched path silent for ${quiet} ms`))
      } else if (quiet >= PATH_SILENT_MS && !w.checked) {
        w.checked = true
        silent = true
      }
    }
    if (silent) this.deps.onSilent()
    if (this.watched.size > 0) this.timer = this.deps.clock.setTimer(PATH_CHECK_MS, () => this.check())
  }
}
