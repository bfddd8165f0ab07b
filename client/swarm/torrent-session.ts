import { EventEmitter } from 'node:events'
import { mkdir } from 'node:fs/promises'
import type Wire from 'bittorrent-protocol'
import type { Logger } from 'pino'
import utPex from 'ut_pex'
import type { Clock, Random, TimerHandle } from '../../protocol/clock.js'
import type { DatagramSocket } from '../../protocol/datagram-socket.js'
import { ProtocolError, type PunchswarmError } from '../../protocol/errors.js'
import { Choker } from '../../protocol/swarm/choker.js'
import { BLOCK_BYTES, type BlockRequest, PiecePicker } from '../../protocol/swarm/piece-picker.js'
import { RequestBudget } from '../../protocol/swarm/request-budget.js'
import type { Metainfo } from '../metainfo/metainfo-types.js'
import { metainfoFromInfoDict } from '../metainfo/torrent-loader.js'
import { PieceStore } from '../storage/piece-store.js'
import type { RendezvousOffer } from '../tracker-client/rendezvous-offer.js'
import { TrackerAnnouncer } from '../tracker-client/tracker-announcer.js'
import type { PeerLink, PeerTransport } from './peer-link.js'
import { RateMeter } from './rate-meter.js'
import { WebSeed, type WebSeedHost } from './web-seed.js'
import { safeUtMetadata } from './wire-guard.js'

/** A peer proven to have sent bad data in this many pieces is banned. */
export const BAN_BLAME = 2
const CHOKE_ROUND_MS = 10_000
const TICK_MS = 1_000
/** Requests in flight per peer: enough for ~2 s of its rate, within these bounds. */
const MIN_PIPELINE = 8
const MAX_PIPELINE = 500
/** A link that lasted this long was a good connection: its peer's dial failures start again from 0. */
const LASTING_LINK_MS = 30_000
/** Piece buffers kept for reuse. */
const SPARE_BUFFERS = 8

export interface TorrentSessionOptions {
  infoHash: Uint8Array
  /** Known for a .torrent; fetched from peers (BEP 9) for a magnet link. */
  metainfo?: Metainfo
  trackers: string[][]
  /** Where the data lives (the torrent's name is a file or directory under it). */
  dir: string
  peerId: Uint8Array
  /** The port peers reach us on (announced to trackers). */
  port: number
  maxPeers?: number
  /** Upload cap, bytes per second (unlimited when unset). */
  maxUploadRate?: number
  /** Download cap, bytes per second (unlimited when unset): requests are paced to it. */
  maxDownloadRate?: number
  /** Web seeds of a magnet link (`ws`), used once the info dict has arrived from a peer. */
  webSeeds?: string[]
}

export interface TorrentSessionDeps {
  clock: Clock
  random: Random
  /** Opens a wire to a peer (uTP or TCP, as the client allows). */
  dial: (address: string, port: number) => Promise<{ wire: Wire; transport: PeerTransport }>
  udpSocket?: DatagramSocket
  logger?: Logger
  /** Given, the session asks trackers for the rendezvous extension and passes each offer on. */
  onRendezvousOffer?: (session: TorrentSession, offer: RendezvousOffer, trackerUrl: string) => void
  /**
   * Given (the client runs a DHT node and the torrent is not private), handshakes set the DHT bit,
   * a PORT message (BEP 5) tells peers where our node is, and theirs is passed on here.
   */
  dht?: { port: number; onPeerNode: (contact: { address: string; port: number }) => void }
}

export interface TorrentSessionEvents {
  metadata: [metainfo: Metainfo]
  /** A peer is connected: both handshakes done (outgoing wires are attached before theirs arrives). */
  peer: [link: PeerLink]
  'peer-closed': [link: PeerLink]
  piece: [index: number]
  complete: []
  banned: [id: string]
  warning: [message: string]
  error: [err: PunchswarmError]
}

/** A piece being put together from blocks, with who sent each block. */
interface Assembly {
  data: Uint8Array
  from: (string | undefined)[]
}

interface KnownPeer {
  address: string
  port: number
  failures: number
  nextTryAt: number
  connecting: boolean
  banned: boolean
}

/**
 * One torrent in a swarm: its peers, the pieces it has, what it asks for and whom it serves.
 * Wires are bittorrent-protocol's over TCP or uTP; piece choice is the PiecePicker's, choking the
 * Choker's (both pure, in protocol/swarm); storage is the PieceStore, which writes only verified
 * pieces. Failures of one peer close that peer, never the session.
 */
export class TorrentSession extends EventEmitter<TorrentSessionEvents> {
  metainfo: Metainfo | undefined
  private store: PieceStore | undefined
  private picker: PiecePicker | undefined
  private readonly choker: Choker
  private readonly links = new Map<string, PeerLink>()
  private readonly known = new Map<string, KnownPeer>()
  private readonly partial = new Map<number, Assembly>()
  /** Piece buffers back from the store, reused for the next pieces rather than allocated anew. */
  private readonly spareBuffers: Uint8Array[] = []
  /** The last copy of a piece that failed its hash, kept to find the bad blocks once a good copy arrives. */
  private readonly failed = new Map<number, Assembly>()
  /** Pieces each peer is proven to have corrupted (kept after it disconnects). */
  private readonly blame = new Map<string, number>()
  /** Peer ids of banned peers: an incoming connection comes from a new port each time. */
  private readonly bannedPeerIds = new Set<string>()
  /** With an upload cap: when the uplink is free again (each block books its share of time). */
  private uploadFreeAt = 0
  /** With a download cap: what may be requested now, and a timer to ask again when it allows more. */
  private readonly requestBudget: RequestBudget | undefined
  /** BEP 19 web seeds fetching for this torrent, by their `web:` id. */
  private readonly webSeeds = new Map<string, WebSeed>()
  private budgetTimer: TimerHandle | undefined
  private announcer: TrackerAnnouncer | undefined
  private chokeTimer: TimerHandle | undefined
  private tickTimer: TimerHandle | undefined
  private running = false
  private completeEmitted = false
  readonly down: RateMeter
  readonly up: RateMeter
  private readonly infoHashHex: string
  private readonly peerIdHex: string

  constructor(
    private readonly options: TorrentSessionOptions,
    private readonly deps: TorrentSessionDeps,
  ) {
    super()
    this.metainfo = options.metainfo
    this.infoHashHex = Buffer.from(options.infoHash).toString('hex')
    this.peerIdHex = Buffer.from(options.peerId).toString('hex')
    this.choker = new Choker({ random: deps.random })
    const now = () => deps.clock.now()
    this.down = new RateMeter(now)
    this.up = new RateMeter(now)
    if (options.maxDownloadRate) this.requestBudget = new RequestBudget(options.maxDownloadRate)
  }

  get infoHash(): Uint8Array {
    return this.options.infoHash
  }

  get complete(): boolean {
    return this.store !== undefined && this.store.verifiedCount === this.store.pieceCount
  }

  /** Whether a peer with this id is connected. */
  hasPeerId(peerIdHex: string): boolean {
    for (const l of this.links.values()) if (l.wire.peerId === peerIdHex) return true
    return false
  }

  get peers(): PeerLink[] {
    return [...this.links.values()]
  }

  /** Opens storage (rechecking unless resume data matches) and starts announcing and choking. */
  async start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.running = true
    if (this.metainfo) await this.openStore(this.metainfo, opts.signal)
    this.announcer = new TrackerAnnouncer(
      {
        trackers: this.options.trackers,
        infoHash: this.options.infoHash,
        peerId: this.options.peerId,
        port: this.options.port,
        stats: () => ({ uploaded: this.up.total, downloaded: this.down.total, left: this.left() }),
        rendezvous: this.deps.onRendezvousOffer !== undefined,
      },
      {
        clock: this.deps.clock,
        random: this.deps.random,
        ...(this.deps.udpSocket ? { udpSocket: this.deps.udpSocket } : {}),
        ...(this.deps.logger ? { logger: this.deps.logger } : {}),
      },
    )
    this.announcer.on('peers', (peers) => {
      for (const p of peers) this.addPeer(p.address, p.port)
    })
    this.announcer.on('rendezvous', (offer, url) => this.deps.onRendezvousOffer?.(this, offer, url))
    this.announcer.on('warning', (m) => this.emit('warning', `tracker: ${m}`))
    this.announcer.on('error', (e) => this.emit('warning', `tracker: ${e.message}`))
    // A torrent complete from the start announces `started` with left=0, not `completed` (BEP 3:
    // that event is for a download finishing), so the tracker's completed count stays true.
    this.announcer.start()
    this.scheduleChoke()
    this.scheduleTick()
    this.startWebSeeds()
  }

  /** BEP 19: fetches from the torrent's `url-list` servers alongside the peers, until complete. */
  private startWebSeeds(): void {
    if (!this.metainfo?.webSeeds || this.complete) return
    const host: WebSeedHost = {
      layout: this.metainfo.layout,
      claim: (id, max) => {
        if (!this.picker || this.complete) return []
        // The download cap covers web seeds too: their blocks are booked like a peer's requests.
        const now = this.deps.clock.now()
        const count = this.requestBudget?.blocks(now, max, BLOCK_BYTES) ?? max
        const blocks = count > 0 ? this.picker.pick(id, () => true, count) : []
        for (const req of blocks) this.requestBudget?.book(req.length, now)
        return blocks
      },
      deliver: (id, req, block) => {
        if (!this.picker || !this.running || !this.webSeeds.has(id)) return
        this.down.add(block.length)
        this.onBlock(id, req, block)
      },
      release: (id, reqs) => {
        for (const req of reqs) this.picker?.onRequestDropped(id, req)
      },
      done: () => !this.running || this.complete,
    }
    for (const url of this.metainfo.webSeeds) {
      const seed = new WebSeed(url, host, {
        clock: this.deps.clock,
        ...(this.deps.logger ? { logger: this.deps.logger } : {}),
      })
      this.webSeeds.set(seed.id, seed)
      void seed.run().finally(() => {
        this.webSeeds.delete(seed.id)
        this.picker?.dropPeer(seed.id)
      })
    }
  }

  /** Announces now (the rendezvous needs a fresh token: the tracker restarted or refused the old one). */
  reannounce(): void {
    this.announcer?.reannounce()
  }

  /** Bytes still to download (the whole torrent while its metadata is unknown). */
  left(): number {
    return this.store ? this.store.bytesLeft() : Number.MAX_SAFE_INTEGER
  }

  /** Totals and rates for progress displays. */
  progress() {
    const total = this.metainfo?.layout.length ?? 0
    const left = this.store ? this.store.bytesLeft() : total
    return {
      total,
      have: total - left,
      percent: total === 0 ? 0 : ((total - left) / total) * 100,
      downloaded: this.down.total,
      uploaded: this.up.total,
      downRate: this.down.perSecond,
      upRate: this.up.perSecond,
      peers: this.links.size,
    }
  }

  /** Remembers a peer and connects to it when a slot is free (now, if one is). */
  addPeer(address: string, port: number): void {
    if (port <= 0 || port > 65535) return
    const id = `${address}:${port}`
    if (!this.known.has(id)) {
      this.known.set(id, { address, port, failures: 0, nextTryAt: 0, connecting: false, banned: false })
    }
    this.connectMore()
  }

  /**
   * Takes a wire for this torrent. Outgoing: called before the peer's handshake arrives (ours is sent
   * here). Incoming: called from the wire's 'handshake' event, once its info hash matched.
   */
  attach(
    wire: Wire,
    info: { address: string; port: number; transport: PeerTransport; direction: 'in' | 'out' },
  ) {
    const id = `${info.address}:${info.port}`
    const knownPeer = this.known.get(id)
    if (wire.peerId === this.peerIdHex) {
      // Our own dial arriving: over uTP it comes from our own port, the address that was dialled.
      this.neverDialAgain(id)
      wire.destroy()
      return
    }
    const banned = knownPeer?.banned || (wire.peerId !== null && this.bannedPeerIds.has(wire.peerId))
    if (!this.running || banned || this.links.size >= (this.options.maxPeers ?? 50)) {
      wire.destroy()
      return
    }
    const now = () => this.deps.clock.now()
    const link: PeerLink = {
      id,
      address: info.address,
      port: info.port,
      transport: info.transport,
      direction: info.direction,
      wire,
      down: new RateMeter(now),
      up: new RateMeter(now),
      counted: undefined,
      maxRequests: MIN_PIPELINE,
      openedAt: now(),
      closed: false,
    }
    // A second connection to the same peer (both sides dialled): keep the first.
    if (this.links.has(id)) {
      wire.destroy()
      return
    }
    this.links.set(id, link)
    wire.use(safeUtMetadata(this.metainfo?.infoBytes))
    // BEP 27: a private torrent's peers come from its trackers only, so no peer exchange.
    if (!this.metainfo?.private) wire.use(utPex())
    wire.setKeepAlive(true)
    // BEP 6 (fast extension) as libtorrent and Transmission: a choke or a block we cannot serve is
    // answered with a reject, so the asker re-asks elsewhere at once; a seed may say "have all".
    wire.handshake(this.options.infoHash, this.options.peerId, { dht: this.usesDht(), fast: true })
    this.wireEvents(link)
    // An incoming peer's handshake is in already; an outgoing one's is awaited in wireEvents.
    if (wire.peerId !== null) this.handshaken(link)
  }

  /**
   * Both handshakes are done: the peer is connected (a dial the peer refuses, a plaintext retry to a
   * peer that requires encryption say, never gets here). Tells it our DHT port and reports it.
   */
  private handshaken(link: PeerLink): void {
    this.sendDhtPort(link.wire)
    this.emit('peer', link)
  }

  /** Sends `stopped` to the trackers, closes every peer and the store. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    if (this.chokeTimer !== undefined) this.deps.clock.clearTimer(this.chokeTimer)
    if (this.tickTimer !== undefined) this.deps.clock.clearTimer(this.tickTimer)
    if (this.budgetTimer !== undefined) this.deps.clock.clearTimer(this.budgetTimer)
    for (const seed of this.webSeeds.values()) seed.stop()
    for (const link of this.links.values()) link.wire.destroy()
    this.links.clear()
    await this.announcer?.stop()
    await this.store?.close()
  }

  // --- peers -----------------------------------------------------------------------------------

  private wireEvents(link: PeerLink): void {
    const { wire } = link
    wire.on('handshake', (infoHash: string, peerId: string) => {
      if (infoHash !== this.infoHashHex) this.closeLink(link, 'wrong info hash')
      else if (this.bannedPeerIds.has(peerId)) this.closeLink(link, 'banned')
      else if (peerId === this.peerIdHex) {
        this.neverDialAgain(link.id)
        this.closeLink(link, 'connected to ourselves')
      } else this.handshaken(link)
    })
    wire.on('port', (port: number) => {
      if (this.usesDht()) this.deps.dht!.onPeerNode({ address: link.address, port })
    })
    wire.on('extended', (ext: string, msg: { reqq?: unknown }) => {
      if (ext === 'handshake' && typeof msg.reqq === 'number' && msg.reqq > 0) {
        link.maxRequests = Math.min(link.maxRequests, msg.reqq)
      }
      if (ext === 'handshake' && !this.metainfo && wire.ut_metadata) wire.ut_metadata.fetch()
    })
    wire.ut_metadata?.on('metadata', () => {
      this.onMetadata(wire.ut_metadata!.metadata!).catch((err: PunchswarmError) => this.emit('error', err))
    })
    wire.ut_metadata?.on('warning', () => {})
    wire.ut_pex?.on('peer', (peer: string) => {
      const i = peer.lastIndexOf(':')
      this.addPeer(peer.slice(0, i), Number(peer.slice(i + 1)))
    })
    wire.ut_pex?.on('warning', () => {})
    wire.on('bitfield', () => this.onAvailability(link))
    // BEP 6: the Wire's peerPieces answers true for every piece after a have-all.
    wire.on('have-all', () => this.onAvailability(link))
    wire.on('have', (index: number) => {
      const count = this.metainfo?.layout.pieceCount ?? 0
      if (index >= count) return
      if (this.picker && link.counted && !(link.counted[index >> 3]! & (0x80 >> (index & 7)))) {
        link.counted[index >> 3]! |= 0x80 >> (index & 7)
        this.picker.addHave(index)
      }
      this.updateInterest(link)
    })
    wire.on('unchoke', () => this.fillRequests(link))
    wire.on('choke', () => {
      // bittorrent-protocol fails the pending requests' callbacks, which drops them from the picker;
      // with BEP 6 they stay pending until the peer rejects (or, for allowed-fast pieces, serves) them.
    })
    wire.on('interested', () => this.maybeUnchokeNow())
    wire.on('uninterested', () => this.rechoke())
    wire.on(
      'request',
      (index: number, begin: number, length: number, respond: (err: Error | null, b?: Uint8Array) => void) =>
        this.serve(link, index, begin, length, respond),
    )
    wire.on('close', () => this.closeLink(link))
    wire.on('error', (err: Error) => this.closeLink(link, err.message))
    wire.on('timeout', () => this.closeLink(link, 'timed out'))
    if (this.store && this.store.verifiedCount > 0) wire.bitfield(this.store.bitfield())
  }

  /** An address that turned out to be our own (from the DHT or a peer's PEX). */
  private neverDialAgain(id: string): void {
    const known = this.known.get(id)
    if (known) known.banned = true
  }

  /** BEP 27: a private torrent's peers come from its trackers only, so no DHT. */
  private usesDht(): boolean {
    return this.deps.dht !== undefined && !this.metainfo?.private
  }

  /** BEP 5: a peer that set the DHT bit learns our node's port. */
  private sendDhtPort(wire: Wire): void {
    if (this.usesDht() && wire.peerExtensions.dht && !wire.destroyed) wire.port(this.deps.dht!.port)
  }

  private closeLink(link: PeerLink, reason?: string): void {
    if (link.closed) return
    link.closed = true
    if (this.links.get(link.id) === link) this.links.delete(link.id)
    this.picker?.dropPeer(link.id)
    if (this.picker && link.counted)
      this.picker.removeAvailability(peerBits(link.wire, this.metainfo!.layout.pieceCount))
    link.wire.destroy()
    const known = this.known.get(link.id)
    if (known) {
      const now = this.deps.clock.now()
      known.failures = now - link.openedAt >= LASTING_LINK_MS ? 0 : known.failures + 1
      known.nextTryAt = now + (known.failures === 0 ? 1000 : Math.min(300_000, 1000 * 2 ** known.failures))
    }
    if (reason) this.deps.logger?.debug({ peer: link.id, reason }, 'peer closed')
    this.emit('peer-closed', link)
    if (this.running) this.connectMore()
  }

  /** A peer's whole bitfield counts once; later HAVEs add to it one by one. */
  private onAvailability(link: PeerLink): void {
    if (!this.picker || link.closed) return
    const bits = peerBits(link.wire, this.metainfo!.layout.pieceCount)
    if (link.counted) this.picker.removeAvailability(link.counted)
    this.picker.addAvailability(bits)
    link.counted = bits
    this.updateInterest(link)
  }

  private updateInterest(link: PeerLink): void {
    const picker = this.picker
    if (!picker || link.closed) return
    let wants = false
    if (!this.complete) {
      const count = this.metainfo!.layout.pieceCount
      for (let i = 0; i < count && !wants; i++) {
        if (!picker.has(i) && link.wire.peerPieces.get(i)) wants = true
      }
    }
    if (wants && !link.wire.amInterested) link.wire.interested()
    else if (!wants && link.wire.amInterested) link.wire.uninterested()
    if (wants) this.fillRequests(link)
  }

  private connectMore(): void {
    if (!this.running) return
    const max = this.options.maxPeers ?? 50
    const now = this.deps.clock.now()
    let slots = max - this.links.size
    for (const k of this.known.values()) if (k.connecting) slots--
    for (const [id, k] of this.known) {
      if (slots <= 0) break
      if (k.banned || k.connecting || this.links.has(id) || k.nextTryAt > now) continue
      if (this.complete && k.failures > 0) continue
      slots--
      k.connecting = true
      this.deps
        .dial(k.address, k.port)
        .then(({ wire, transport }) => {
          // Failures are reset only once the link has lasted (closeLink): a peer that accepts and
          // closes at once (full, a seed meeting a seed, ourselves) must not be redialled in a loop.
          k.connecting = false
          if (!this.running) {
            wire.destroy()
            return
          }
          this.attach(wire, { address: k.address, port: k.port, transport, direction: 'out' })
        })
        .catch(() => {
          k.connecting = false
          k.failures++
          // Back off 2, 4, 8 ... s, at most 5 minutes.
          k.nextTryAt = this.deps.clock.now() + Math.min(300_000, 1000 * 2 ** k.failures)
        })
    }
  }

  // --- downloading -----------------------------------------------------------------------------

  private fillRequests(link: PeerLink): void {
    const picker = this.picker
    if (!picker || link.closed || link.wire.peerChoking || this.complete) return
    // Pipeline depth follows the peer's rate: about two seconds' worth of blocks.
    const want = Math.min(
      MAX_PIPELINE,
      Math.max(MIN_PIPELINE, Math.ceil((link.down.perSecond * 2) / BLOCK_BYTES)),
    )
    const inFlight = link.wire.requests.length
    // Top up in batches: each pick may scan the pieces, so not once per arriving block.
    if (want - inFlight < Math.max(1, want >> 3)) return
    const now = this.deps.clock.now()
    const count = this.requestBudget?.blocks(now, want - inFlight, BLOCK_BYTES) ?? want - inFlight
    if (count === 0) {
      this.waitForBudget(now)
      return
    }
    const blocks = picker.pick(link.id, (i) => link.wire.peerPieces.get(i), count)
    for (const req of blocks) {
      this.requestBudget?.book(req.length, now)
      this.request(link, req)
    }
  }

  /** Under the download cap: asks every peer again once the budget allows another block. */
  private waitForBudget(now: number): void {
    if (this.budgetTimer !== undefined) return
    const at = this.requestBudget!.nextAt(now, BLOCK_BYTES)
    this.budgetTimer = this.deps.clock.setTimer(Math.max(1, at - now), () => {
      this.budgetTimer = undefined
      for (const l of this.links.values()) this.fillRequests(l)
    })
  }

  private request(link: PeerLink, req: BlockRequest): void {
    link.wire.request(req.index, req.begin, req.length, (err, block) => {
      if (link.closed || !this.picker) return
      if (err || !block || block.length !== req.length) {
        this.picker.onRequestDropped(link.id, req)
        return
      }
      link.down.add(block.length)
      this.down.add(block.length)
      this.onBlock(link.id, req, block)
      this.fillRequests(link)
    })
  }

  /** A block from a peer (`from` is its link id) or a web seed (its `web:` id). */
  private onBlock(from: string, req: BlockRequest, block: Uint8Array): void {
    const picker = this.picker!
    const store = this.store!
    const { pieceComplete, alsoRequestedBy } = picker.onBlock(from, req)
    // End game: the same block was asked of others; cancel their copies.
    for (const other of alsoRequestedBy) this.links.get(other)?.wire.cancel(req.index, req.begin, req.length)
    if (picker.has(req.index)) return
    let asm = this.partial.get(req.index)
    if (!asm) {
      const size = store.pieceSize(req.index)
      const spare = this.spareBuffers.pop()
      const data = spare?.length === size ? spare : new Uint8Array(size)
      asm = { data, from: new Array(Math.ceil(size / BLOCK_BYTES)) }
      this.partial.set(req.index, asm)
    }
    asm.data.set(block, req.begin)
    asm.from[Math.floor(req.begin / BLOCK_BYTES)] = from
    if (!pieceComplete) return
    this.partial.delete(req.index)
    const index = req.index
    const senders = asm.from
    // The store takes the buffer (hashing and writing it off the main thread) and hands it back.
    store
      .commitPiece(index, asm.data)
      .then(({ ok, data }) => {
        if (!ok) return this.onPieceFailed(index, { data, from: senders })
        this.onPieceVerified(index, data)
        if (this.spareBuffers.length < SPARE_BUFFERS) this.spareBuffers.push(data)
      })
      .catch((err: PunchswarmError) => this.emit('error', err))
  }

  private onPieceVerified(index: number, data?: Uint8Array): void {
    if (!this.picker || this.picker.has(index)) return
    this.picker.onPieceVerified(index)
    const bad = this.failed.get(index)
    if (bad && data) {
      // The good copy shows which blocks of the failed one were wrong, and so who sent them.
      this.failed.delete(index)
      const culprits = new Set<string>()
      for (let b = 0; b < bad.from.length; b++) {
        const at = b * BLOCK_BYTES
        const end = Math.min(at + BLOCK_BYTES, data.length)
        if (
          !Buffer.from(bad.data.buffer, at, end - at).equals(
            Buffer.from(data.buffer, data.byteOffset + at, end - at),
          )
        ) {
          if (bad.from[b]) culprits.add(bad.from[b]!)
        }
      }
      for (const id of culprits) this.addBlame(id)
    }
    for (const l of this.links.values()) l.wire.have(index)
    this.emit('piece', index)
    if (this.complete && !this.completeEmitted) {
      this.completeEmitted = true
      this.announcer?.completed()
      for (const l of this.links.values()) this.updateInterest(l)
      this.emit('complete')
    }
  }

  private onPieceFailed(index: number, asm: Assembly): void {
    this.picker!.onPieceFailed(index)
    const senders = new Set(asm.from.filter((id): id is string => id !== undefined))
    // One sender: it is the culprit. Several: wait for a good copy to tell whose blocks were wrong.
    if (senders.size === 1) this.addBlame([...senders][0]!)
    else this.failed.set(index, asm)
    for (const l of this.links.values()) this.fillRequests(l)
  }

  private addBlame(id: string): void {
    const blame = (this.blame.get(id) ?? 0) + 1
    this.blame.set(id, blame)
    // Banned once, on reaching the threshold; later proofs against it change nothing.
    if (blame !== BAN_BLAME) return
    if (id.startsWith('web:')) {
      this.webSeeds.get(id)?.stop()
      this.emit('banned', id)
      return
    }
    const link = this.links.get(id)
    const i = id.lastIndexOf(':')
    const k = this.known.get(id) ?? {
      address: id.slice(0, i),
      port: Number(id.slice(i + 1)),
      failures: 0,
      nextTryAt: 0,
      connecting: false,
      banned: true,
    }
    k.banned = true
    this.known.set(id, k)
    if (link?.wire.peerId) this.bannedPeerIds.add(link.wire.peerId)
    this.emit('banned', id)
    if (link) this.closeLink(link, 'sent data that failed the hash check')
  }

  private async onMetadata(infoBytes: Uint8Array): Promise<void> {
    if (this.metainfo) return
    let m: Metainfo
    try {
      m = metainfoFromInfoDict(infoBytes, this.options.trackers, this.options.infoHash)
      if (this.options.webSeeds?.length) m = { ...m, webSeeds: this.options.webSeeds }
    } catch (err) {
      this.emit('warning', `bad metadata from a peer: ${(err as Error).message}`)
      return
    }
    this.metainfo = m
    for (const l of this.links.values()) l.wire.ut_metadata?.setMetadata(infoBytes)
    await this.openStore(m)
    this.emit('metadata', m)
    for (const l of this.links.values()) this.onAvailability(l)
    if (this.running) this.startWebSeeds()
  }

  private async openStore(m: Metainfo, signal?: AbortSignal): Promise<void> {
    await mkdir(this.options.dir, { recursive: true })
    const store = await PieceStore.open(m.layout, this.options.dir, {
      infoHashHex: m.infoHashHex,
      ...(signal ? { signal } : {}),
    })
    this.store = store
    this.picker = new PiecePicker({
      pieceCount: m.layout.pieceCount,
      pieceLength: m.layout.pieceLength,
      lastPieceLength: m.layout.lastPieceLength,
      random: this.deps.random,
      have: store.bitfield(),
    })
    if (this.complete) this.completeEmitted = true
  }

  // --- uploading -------------------------------------------------------------------------------

  private serve(
    link: PeerLink,
    index: number,
    begin: number,
    length: number,
    respond: (err: Error | null, b?: Uint8Array) => void,
  ): void {
    const store = this.store
    if (!store || link.wire.amChoking || !store.has(index) || length > 128 * 1024) {
      respond(new ProtocolError('PROTOCOL_UNEXPECTED_MESSAGE', 'block not available'))
      return
    }
    const send = (block: Uint8Array) => {
      if (link.closed) return
      link.up.add(block.length)
      this.up.add(block.length)
      respond(null, block)
    }
    store.readBlock(index, begin, length).then(
      (block) => {
        const cap = this.options.maxUploadRate
        if (!cap) return send(block)
        const now = this.deps.clock.now()
        this.uploadFreeAt = Math.max(this.uploadFreeAt, now) + (block.length * 1000) / cap
        this.deps.clock.setTimer(this.uploadFreeAt - now, () => send(block))
      },
      (err: Error) => respond(err),
    )
  }

  private maybeUnchokeNow(): void {
    // Fill a free slot at once rather than leave a new peer waiting up to a whole round.
    const unchoked = [...this.links.values()].filter((l) => !l.wire.amChoking).length
    if (unchoked < 5) this.rechoke()
  }

  private rechoke(): void {
    const peers = [...this.links.values()].map((l) => ({
      id: l.id,
      interested: l.wire.peerInterested,
      downloadRate: l.down.perSecond,
      uploadRate: l.up.perSecond,
    }))
    const unchoke = this.choker.rechoke(peers, this.complete)
    for (const l of this.links.values()) {
      if (unchoke.has(l.id) && l.wire.amChoking) l.wire.unchoke()
      else if (!unchoke.has(l.id) && !l.wire.amChoking) l.wire.choke()
    }
  }

  private scheduleChoke(): void {
    this.chokeTimer = this.deps.clock.setTimer(CHOKE_ROUND_MS, () => {
      if (!this.running) return
      this.rechoke()
      this.scheduleChoke()
    })
  }

  private scheduleTick(): void {
    this.tickTimer = this.deps.clock.setTimer(TICK_MS, () => {
      if (!this.running) return
      this.connectMore()
      for (const l of this.links.values()) this.fillRequests(l)
      this.scheduleTick()
    })
  }
}

/**
 * A peer's bitfield sized to the torrent: bittorrent-protocol keeps it in a BitField that grows past
 * the last piece (and a peer's message may be short), so it is copied into exactly enough bytes.
 */
function peerBits(wire: Wire, pieceCount: number): Uint8Array {
  const bits = new Uint8Array(Math.ceil(pieceCount / 8))
  for (let i = 0; i < pieceCount; i++) if (wire.peerPieces.get(i)) bits[i >> 3]! |= 0x80 >> (i & 7)
  return bits
}
