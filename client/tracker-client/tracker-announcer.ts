import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { Clock, Random, TimerHandle } from '../../protocol/clock.js'
import type { DatagramSocket } from '../../protocol/datagram-socket.js'
import { TrackerError } from '../../protocol/errors.js'
import { realRandom } from '../real-clock.js'
import { type AnnounceRequest, type AnnounceResponse, httpAnnounce } from './http-tracker-client.js'
import type { RendezvousOffer } from './rendezvous-offer.js'
import { UdpTrackerClient } from './udp-tracker-client.js'

/** First retry after a failed announce; doubles per failure (libtorrent backs off the same way). */
export const RETRY_BASE_MS = 15_000
/** Longest wait between retries. */
export const RETRY_MAX_MS = 30 * 60_000
/** One announce attempt to one tracker gives up after this. */
export const ANNOUNCE_TIMEOUT_MS = 15_000
/**
 * One udp:// announce gives up after this: the first datagram and one BEP 15 retransmission (at 15 s).
 * BEP 15's full schedule runs over an hour and would stall the tier walk; the backoff above takes over.
 */
export const UDP_ANNOUNCE_TIMEOUT_MS = 45_000
/** `stop()` waits at most this long for the `stopped` announce. */
export const STOP_TIMEOUT_MS = 5_000
/** Re-announce interval when a tracker sends 0. */
export const MIN_REANNOUNCE_MS = 30_000

/** Options of {@link TrackerAnnouncer}. */
export interface TrackerAnnouncerOptions {
  /** Tracker tiers (BEP 12). */
  trackers: string[][]
  infoHash: Uint8Array
  peerId: Uint8Array
  /** Port peers reach us on. */
  port: number
  /** Transfer totals and bytes left, read at each announce. */
  stats: () => { uploaded: number; downloaded: number; left: number }
  /** Peers asked for. @default tracker's default */
  numwant?: number
  /** Ask HTTP trackers for the rendezvous extension (`punchswarm=1`) and report it as 'rendezvous'. */
  rendezvous?: boolean
}

/** Dependencies of {@link TrackerAnnouncer}. */
export interface TrackerAnnouncerDeps {
  clock: Clock
  logger?: Logger
  /** Carries udp:// announces (BEP 15); without it udp:// trackers are skipped. */
  udpSocket?: DatagramSocket
  /** Shuffles tiers (BEP 12). @default crypto randomness */
  random?: Random
}

/** Events of {@link TrackerAnnouncer}. */
export interface TrackerAnnouncerEvents {
  peers: [peers: { address: string; port: number }[]]
  warning: [message: string]
  error: [err: TrackerError]
  response: [info: { complete?: number; incomplete?: number; interval: number }]
  rendezvous: [offer: RendezvousOffer, trackerUrl: string]
}

type AnnounceEvent = AnnounceRequest['event']

/**
 * Announces one torrent to its trackers: `started` on start, `completed` when told, `stopped` on
 * stop, and a re-announce every `interval` (never sooner than `min interval`). Failures back off
 * exponentially. BEP 12 tiers: each tier is shuffled once, tiers are tried in order, trackers in a
 * tier in order, and the tracker that answers moves to the front of its tier.
 * The loop never throws: failures are `error` events (logged when nobody listens).
 */
export class TrackerAnnouncer extends EventEmitter<TrackerAnnouncerEvents> {
  private readonly tiers: string[][]
  private timer: TimerHandle | undefined
  private running = false
  private inFlight: AbortController | undefined
  private current: Promise<void> = Promise.resolve()
  private startedSent = false
  private completedPending = false
  private failures = 0
  private trackerId: string | undefined
  private readonly key: string
  private readonly skipped = new Set<string>()
  private readonly udp: UdpTrackerClient | undefined

  constructor(
    private readonly options: TrackerAnnouncerOptions,
    private readonly deps: TrackerAnnouncerDeps,
  ) {
    super()
    const random = deps.random ?? realRandom
    this.tiers = options.trackers.map((tier) => {
      const t = [...tier]
      for (let i = t.length - 1; i > 0; i--) {
        const j = random.int(i + 1)
        ;[t[i], t[j]] = [t[j]!, t[i]!]
      }
      return t
    })
    this.key = Buffer.from(random.bytes(new Uint8Array(4))).toString('hex')
    if (deps.udpSocket) this.udp = new UdpTrackerClient({ socket: deps.udpSocket, clock: deps.clock, random })
  }

  /** The tiers in their current order (shuffled, answering trackers first). */
  get trackerOrder(): string[][] {
    return this.tiers.map((t) => [...t])
  }

  /** Sends `started` and keeps announcing until `stop()`. */
  start(): void {
    if (this.running) return
    this.running = true
    this.announceNow()
  }

  /** Tells the trackers the download finished (sent right away, or right after `started`). */
  completed(): void {
    if (!this.running) return
    this.completedPending = true
    if (this.startedSent) this.announceNow()
  }

  /**
   * Sends `stopped` to the trackers and releases every timer. A `completed` not yet delivered goes
   * first (a download that stops right after finishing still counts as completed); both together are
   * bounded by {@link STOP_TIMEOUT_MS}.
   */
  async stop(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.running) return
    this.running = false
    this.clearTimer()
    const bound = this.deps.clock.timeoutSignal(STOP_TIMEOUT_MS)
    const signal = opts.signal ? AbortSignal.any([opts.signal, bound]) : bound
    // An announce in flight is cut short, unless a completion waits on it (`started`, then `completed`).
    if (this.completedPending) signal.addEventListener('abort', () => this.inFlight?.abort(), { once: true })
    else this.inFlight?.abort()
    await this.current.catch(() => undefined)
    if (!this.startedSent) return
    try {
      if (this.completedPending && !signal.aborted) {
        await this.announceTiers('completed', signal)
        this.completedPending = false
      }
      await this.announceTiers('stopped', signal)
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason
      this.deps.logger?.debug({ err }, 'stopped announce failed')
    }
  }

  /**
   * Announces now rather than at the next interval or retry (resetting the back-off): for a client
   * that learnt its registration or its mapping is gone, and needs a fresh token.
   */
  reannounce(): void {
    if (!this.running) return
    this.failures = 0
    this.announceNow()
  }

  private announceNow(): void {
    this.clearTimer()
    this.inFlight?.abort()
    const previous = this.current
    this.current = previous.catch(() => undefined).then(() => this.cycle())
  }

  /** One announce round, then the next one is scheduled. Never rejects. */
  private async cycle(): Promise<void> {
    if (!this.running) return
    const event: AnnounceEvent = !this.startedSent
      ? 'started'
      : this.completedPending
        ? 'completed'
        : undefined
    const ctl = new AbortController()
    this.inFlight = ctl
    let delay: number
    try {
      const res = await this.announceTiers(event, ctl.signal)
      if (event === 'started') this.startedSent = true
      if (event === 'completed') this.completedPending = false
      this.failures = 0
      const seconds = Math.max(res.interval, res.minInterval ?? 0)
      delay = Math.max(seconds * 1000, MIN_REANNOUNCE_MS)
      // A completion that arrived while `started` was in flight goes out at once.
      if (this.completedPending && event !== 'completed') delay = 0
    } catch {
      if (ctl.signal.aborted || !this.running) return
      delay = Math.min(RETRY_BASE_MS * 2 ** this.failures, RETRY_MAX_MS)
      this.failures++
    } finally {
      if (this.inFlight === ctl) this.inFlight = undefined
    }
    if (!this.running) return
    this.timer = this.deps.clock.setTimer(delay, () => {
      this.timer = undefined
      this.announceNow()
    })
  }

  /** BEP 12: tiers in order, trackers within a tier in order; the one that answers is promoted. */
  private async announceTiers(event: AnnounceEvent, signal: AbortSignal): Promise<AnnounceResponse> {
    let last: unknown = new TrackerError('TRACKER_UNREACHABLE', 'no usable tracker')
    for (const tier of this.tiers) {
      for (const [i, url] of [...tier].entries()) {
        if (signal.aborted) throw signal.reason
        try {
          const res = await this.announceOne(url, event, signal)
          tier.splice(i, 1)
          tier.unshift(url)
          this.onResponse(res)
          return res
        } catch (err) {
          if (signal.aborted) throw signal.reason
          last = err
          if (err instanceof TrackerError && err.message !== 'skipped') this.report(err)
        }
      }
    }
    throw last
  }

  private async announceOne(
    url: string,
    event: AnnounceEvent,
    signal: AbortSignal,
  ): Promise<AnnounceResponse> {
    const s = this.options.stats()
    const req: AnnounceRequest = {
      infoHash: this.options.infoHash,
      peerId: this.options.peerId,
      port: this.options.port,
      uploaded: s.uploaded,
      downloaded: s.downloaded,
      left: s.left,
      key: this.key,
      ...(event ? { event } : {}),
      ...(this.options.numwant !== undefined ? { numwant: this.options.numwant } : {}),
      ...(this.trackerId ? { trackerId: this.trackerId } : {}),
      ...(this.options.rendezvous ? { rendezvous: true } : {}),
    }
    if (/^https?:\/\//i.test(url)) {
      const res = await this.bounded(url, ANNOUNCE_TIMEOUT_MS, signal, (s) =>
        httpAnnounce(url, req, { signal: s }),
      )
      if (res.rendezvous) this.emit('rendezvous', res.rendezvous, url)
      return res
    }
    const udp = this.udp
    if (udp && /^udp:\/\//i.test(url)) {
      return await this.bounded(url, UDP_ANNOUNCE_TIMEOUT_MS, signal, (s) =>
        udp.announce(url, req, { signal: s }),
      )
    }
    if (!this.skipped.has(url)) {
      this.skipped.add(url)
      this.deps.logger?.info(
        { url },
        'skipping tracker: only http(s), and udp:// given a socket, are supported',
      )
    }
    throw new TrackerError('TRACKER_UNREACHABLE', 'skipped')
  }

  /** Runs one announce under `signal` and a timeout that becomes TRACKER_UNREACHABLE. */
  private async bounded(
    url: string,
    ms: number,
    signal: AbortSignal,
    run: (signal: AbortSignal) => Promise<AnnounceResponse>,
  ): Promise<AnnounceResponse> {
    const timeout = this.deps.clock.timeoutSignal(ms)
    return await run(AbortSignal.any([signal, timeout])).catch((err) => {
      if (!signal.aborted && timeout.aborted) {
        throw new TrackerError('TRACKER_UNREACHABLE', `${url} did not answer in ${ms} ms`)
      }
      throw err
    })
  }

  private onResponse(res: AnnounceResponse): void {
    if (res.trackerId) this.trackerId = res.trackerId
    if (res.warning) this.emit('warning', res.warning)
    this.emit('response', { complete: res.complete, incomplete: res.incomplete, interval: res.interval })
    if (res.peers.length > 0) this.emit('peers', res.peers)
  }

  private report(err: TrackerError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else this.deps.logger?.warn({ code: err.code }, err.message)
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer)
    this.timer = undefined
  }
}
