import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import {
  type Bep15Response,
  decodeBep15Response,
  encodeBep15Request,
  MAX_SCRAPE_HASHES,
} from '../../protocol/bep15/bep15-codec.js'
import type { Clock, Random, TimerHandle } from '../../protocol/clock.js'
import { addressKey, type DatagramSocket, type UdpAddress } from '../../protocol/datagram-socket.js'
import { TrackerError, throwIfAborted } from '../../protocol/errors.js'
import { bytesToIp } from '../../protocol/ip-address.js'
import { announceKey } from '../../protocol/tracker/announce-key.js'
import { classifyClientDatagram } from '../../protocol/udp-framing.js'
import type { AnnounceRequest, AnnounceResponse } from './http-tracker-client.js'

/** BEP 15: a connection id may be used for one minute after it was received. */
export const CONNECTION_ID_TTL_MS = 60_000
/** BEP 15: retransmit after 15 · 2^n seconds. */
export const UDP_TRACKER_BASE_TIMEOUT_MS = 15_000
/** BEP 15: n goes up to 8 (3840 s), so 8 retransmissions after the first datagram. */
export const UDP_TRACKER_MAX_RETRIES = 8

export interface UdpTrackerClientOptions {
  /** First wait before a retransmission. @default UDP_TRACKER_BASE_TIMEOUT_MS */
  baseTimeoutMs?: number
  /** Retransmissions before TRACKER_UNREACHABLE. @default UDP_TRACKER_MAX_RETRIES */
  maxRetries?: number
}

export interface UdpTrackerClientDeps {
  /** The client's shared socket; only BEP 15 responses this client waits for are consumed. */
  socket: DatagramSocket
  clock: Clock
  random: Random
}

/** One torrent's scrape counts, in the order the info hashes were asked for. */
export interface UdpScrapeResult {
  complete: number
  downloaded: number
  incomplete: number
}

interface Target extends UdpAddress {
  /** Compact peer width the tracker answers with: it follows the transport (BEP 15). */
  peerBytes: 6 | 18
}

interface Pending {
  target: Target
  accept: (r: Bep15Response) => boolean
  done: (r: Bep15Response) => void
}

/**
 * The client side of BEP 15 (https://www.bittorrent.org/beps/bep_0015.html) over the client's one
 * shared UDP socket. Connection ids are cached per tracker address for a minute and dropped when the
 * tracker answers with an error; requests are retransmitted after base · 2^n. Malformed responses are
 * ignored (a datagram network may deliver anything), so only silence ends in TRACKER_UNREACHABLE.
 * IPv4 is what is tested. IPv6 is sketched: a literal IPv6 tracker address on an IPv6 socket reads
 * 18-byte peers (BEP 15: the family follows the transport); names resolve to the socket's family.
 * BEP 41 URL data (path/query in the option area) is not sent.
 */
export class UdpTrackerClient {
  private readonly pending = new Map<number, Pending>()
  private readonly connections = new Map<string, { id: bigint; at: number }>()
  private readonly baseTimeoutMs: number
  private readonly maxRetries: number
  /** Sent when the announce request carries no key of its own. */
  private readonly key: number
  private listening = false

  constructor(
    private readonly deps: UdpTrackerClientDeps,
    options: UdpTrackerClientOptions = {},
  ) {
    this.baseTimeoutMs = options.baseTimeoutMs ?? UDP_TRACKER_BASE_TIMEOUT_MS
    this.maxRetries = options.maxRetries ?? UDP_TRACKER_MAX_RETRIES
    this.key = deps.random.int(2 ** 32)
  }

  /** One announce. Throws TrackerError: TRACKER_FAILURE_REASON (the tracker's text) or TRACKER_UNREACHABLE. */
  async announce(
    url: string,
    req: AnnounceRequest,
    opts: { signal?: AbortSignal } = {},
  ): Promise<AnnounceResponse> {
    const target = await this.resolve(url, opts.signal)
    const r = await this.request(
      target,
      (connectionId, transactionId) =>
        encodeBep15Request({
          action: 'announce',
          connectionId,
          transactionId,
          infoHash: req.infoHash,
          peerId: req.peerId,
          downloaded: u64(req.downloaded),
          left: u64(req.left),
          uploaded: u64(req.uploaded),
          event: req.event ?? 'none',
          ip: 0,
          key: req.key === undefined ? this.key : keyNumber(req.key),
          numWant: req.numwant ?? -1,
          port: req.port,
        }),
      (r) => r.action === 'announce',
      opts.signal,
    )
    if (r.action !== 'announce') throw new TrackerError('TRACKER_BAD_RESPONSE', `${url} answered ${r.action}`)
    const peers: AnnounceResponse['peers'] = []
    const w = target.peerBytes
    for (let i = 0; i + w <= r.peers.length; i += w) {
      const port = (r.peers[i + w - 2]! << 8) | r.peers[i + w - 1]!
      if (port > 0) peers.push({ address: bytesToIp(r.peers.subarray(i, i + w - 2)), port })
    }
    return { interval: r.interval, complete: r.seeders, incomplete: r.leechers, peers }
  }

  /** Scrapes counts for `infoHashes` (split into datagrams of at most 74 hashes). */
  async scrape(
    url: string,
    infoHashes: Uint8Array[],
    opts: { signal?: AbortSignal } = {},
  ): Promise<UdpScrapeResult[]> {
    const target = await this.resolve(url, opts.signal)
    const out: UdpScrapeResult[] = []
    for (let i = 0; i < infoHashes.length; i += MAX_SCRAPE_HASHES) {
      const chunk = infoHashes.slice(i, i + MAX_SCRAPE_HASHES)
      const r = await this.request(
        target,
        (connectionId, transactionId) =>
          encodeBep15Request({ action: 'scrape', connectionId, transactionId, infoHashes: chunk }),
        // Fewer entries than hashes asked for is a short datagram: ignored like any malformed one.
        (r) => r.action === 'scrape' && r.files.length >= chunk.length,
        opts.signal,
      )
      if (r.action !== 'scrape') throw new TrackerError('TRACKER_BAD_RESPONSE', `${url} answered ${r.action}`)
      for (const f of r.files.slice(0, chunk.length)) {
        out.push({ complete: f.seeders, downloaded: f.completed, incomplete: f.leechers })
      }
    }
    return out
  }

  /**
   * Connect (unless a fresh id is cached), then the request. One retransmission budget covers both, as
   * BEP 15's n does. An error answer drops the cached id; if that id came from the cache the exchange
   * is retried once with a new one (the tracker may have rotated ids sooner than a minute).
   */
  private async request(
    target: Target,
    encode: (connectionId: bigint, transactionId: number) => Uint8Array,
    accept: (r: Bep15Response) => boolean,
    signal: AbortSignal | undefined,
  ): Promise<Bep15Response> {
    const budget = { n: 0 }
    const key = addressKey(target)
    let retried = false
    for (;;) {
      let conn = this.connections.get(key)
      if (conn && this.deps.clock.now() - conn.at >= CONNECTION_ID_TTL_MS) conn = undefined
      const cached = conn !== undefined
      if (!conn) {
        const r = await this.exchange(
          target,
          (tid) => encodeBep15Request({ action: 'connect', transactionId: tid }),
          (r) => r.action === 'connect',
          budget,
          () => true,
          signal,
        )
        if (r?.action === 'error') throw new TrackerError('TRACKER_FAILURE_REASON', r.message)
        if (r?.action !== 'connect') continue
        conn = { id: r.connectionId, at: this.deps.clock.now() }
        this.connections.set(key, conn)
      }
      const id = conn.id
      const at = conn.at
      const r = await this.exchange(
        target,
        (tid) => encode(id, tid),
        accept,
        budget,
        // An id that expired while we waited must not be retransmitted: reconnect instead.
        () => this.deps.clock.now() - at < CONNECTION_ID_TTL_MS,
        signal,
      )
      if (!r) {
        this.connections.delete(key)
        continue
      }
      if (r.action !== 'error') return r
      if (this.connections.get(key)?.id === id) this.connections.delete(key)
      if (cached && !retried) {
        retried = true
        continue
      }
      throw new TrackerError('TRACKER_FAILURE_REASON', r.message)
    }
  }

  /**
   * Sends one request and retransmits it on silence until an accepted answer (or an error answer) with
   * its transaction id arrives from `target`. Resolves undefined when `valid()` turns false at a
   * retransmission; rejects TRACKER_UNREACHABLE when the budget is spent, or `signal.reason`.
   */
  private exchange(
    target: Target,
    encode: (transactionId: number) => Uint8Array,
    accept: (r: Bep15Response) => boolean,
    budget: { n: number },
    valid: () => boolean,
    signal: AbortSignal | undefined,
  ): Promise<Bep15Response | undefined> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason)
      const { clock, socket } = this.deps
      // Stepping past a taken id (rather than drawing again) ends even with a degenerate Random.
      let tid = this.deps.random.int(2 ** 32)
      while (this.pending.has(tid)) tid = (tid + 1) >>> 0
      const bytes = encode(tid)
      let timer: TimerHandle | undefined
      const finish = () => {
        if (timer !== undefined) clock.clearTimer(timer)
        timer = undefined
        signal?.removeEventListener('abort', onAbort)
        this.pending.delete(tid)
        this.listen()
      }
      const onAbort = () => {
        finish()
        reject(signal!.reason)
      }
      const transmit = () => {
        socket.send(bytes, target)
        timer = clock.setTimer(this.baseTimeoutMs * 2 ** budget.n, onTimeout)
      }
      const onTimeout = () => {
        timer = undefined
        if (budget.n >= this.maxRetries) {
          finish()
          reject(
            new TrackerError(
              'TRACKER_UNREACHABLE',
              `${addressKey(target)} did not answer after ${budget.n + 1} datagrams`,
            ),
          )
          return
        }
        budget.n++
        if (!valid()) {
          finish()
          resolve(undefined)
          return
        }
        transmit()
      }
      this.pending.set(tid, {
        target,
        accept,
        done: (r) => {
          finish()
          resolve(r)
        },
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      this.listen()
      transmit()
    })
  }

  /** Listens on the shared socket only while something is pending, so an idle client holds nothing. */
  private listen(): void {
    const want = this.pending.size > 0
    if (want === this.listening) return
    this.listening = want
    if (want) this.deps.socket.on('message', this.onMessage)
    else this.deps.socket.off('message', this.onMessage)
  }

  private readonly onMessage = (bytes: Uint8Array, from: UdpAddress): void => {
    // uTP, rendezvous, DHT and answers for other transactions belong to someone else.
    if (classifyClientDatagram(bytes) !== 'bep15-response') return
    const tid = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4)
    const p = this.pending.get(tid)
    if (!p || unmapped(from.address) !== unmapped(p.target.address) || from.port !== p.target.port) return
    let r: Bep15Response
    try {
      r = decodeBep15Response(bytes, p.target.peerBytes)
    } catch {
      return
    }
    if (r.action === 'error' || p.accept(r)) p.done(r)
  }

  private async resolve(url: string, signal: AbortSignal | undefined): Promise<Target> {
    throwIfAborted(signal)
    let host: string
    let port: number
    try {
      const u = new URL(url)
      if (u.protocol !== 'udp:') throw new Error('not udp://')
      host = u.hostname.replace(/^\[(.*)\]$/, '$1')
      port = Number(u.port)
      if (!host || !(port > 0)) throw new Error('no host or port')
    } catch (err) {
      throw new TrackerError('TRACKER_UNREACHABLE', `bad UDP tracker URL ${url}: ${(err as Error).message}`)
    }
    const v6 = this.deps.socket.address().family === 'IPv6'
    let address = host
    if (!isIP(host)) {
      try {
        address = (await abortable(lookup(host, { family: v6 ? 6 : 4 }), signal)).address
      } catch (err) {
        throwIfAborted(signal)
        throw new TrackerError('TRACKER_UNREACHABLE', `cannot resolve ${host}: ${(err as Error).message}`, {
          cause: err,
        })
      }
    }
    const family = isIP(address) === 6 ? 'IPv6' : 'IPv4'
    return { address, port, family, peerBytes: family === 'IPv6' ? 18 : 6 }
  }
}

function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

function u64(n: number): bigint {
  return BigInt(Math.max(0, Math.floor(n)))
}

function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip
}

/** BEP 15's key is 32 bits: the announcer's key (8 hex digits) read as the tracker reads it over HTTP. */
function keyNumber(key: string): number {
  return announceKey(Buffer.from(key, 'latin1')) ?? 0
}
