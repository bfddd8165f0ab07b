import { EventEmitter } from 'node:events'
import DHT from 'bittorrent-dht'
import type { Clock, TimerHandle } from '../../protocol/clock.js'
import type { DatagramSocket, UdpAddress } from '../../protocol/datagram-socket.js'
import { DHT_NODE_CACHE_MAX } from './dht-node-cache.js'
import { DhtSocket } from './dht-socket.js'
import { boundReplies } from './reply-bounds.js'

/** libtorrent's dht_announce_interval: a torrent is announced (and looked up) every 15 minutes. */
export const DHT_ANNOUNCE_INTERVAL_MS = 15 * 60_000
/** While downloading, peers that announced since the last lookup are worth finding sooner. */
export const DHT_LOOKUP_INTERVAL_MS = 5 * 60_000
/** Peers announced to us are forgotten after this unless announced again (they re-announce every 15 min). */
export const DHT_PEER_MAX_AGE_MS = 30 * 60_000
/** An announce that reached no node is retried after this, doubling up to DHT_ANNOUNCE_INTERVAL_MS. */
export const DHT_RETRY_MS = 10_000
/**
 * A round (lookup, then announce) that has not ended after this counts as one that reached nobody.
 * Its queries time out in seconds; a round lasts longer only if bittorrent-dht lost its callback
 * (a throw inside it on a hostile reply), which would otherwise end that torrent's announces.
 */
export const DHT_ROUND_DEADLINE_MS = 2 * 60_000

export interface DhtNodeOptions {
  /** Contacts to join the DHT through (host names or IPs); empty starts a DHT of its own. */
  bootstrap: Array<{ host: string; port: number }>
  /** Nodes known from an earlier run (dht-node-cache.ts): pinged at start, kept if they answer. */
  knownNodes?: Array<{ host: string; port: number }>
  nodeId?: Uint8Array
}

export interface DhtNodeEvents {
  /** A peer for a torrent this node announces (info hash in hex). */
  peer: [infoHash: string, peer: UdpAddress]
  /** An announce round reached `nodes` DHT nodes (0: none answered; it is retried). */
  announced: [infoHash: string, info: { nodes: number }]
  warning: [message: string]
}

interface Tracked {
  infoHash: Uint8Array
  /** 0 announces `implied_port`: the port the DHT sees our datagrams come from. */
  port: number
  /** Whether we still download: lookups come more often. */
  downloading: () => boolean
  /** The next round's timer, or the running round's deadline. */
  timer: TimerHandle | undefined
  retryMs: number
  /** Counts rounds; a callback of a round that already ended finds a newer number and is ignored. */
  round: number
}

/**
 * The client's mainline DHT node (BEP 5), bittorrent-dht over the shared UDP socket. It keeps the
 * routing table, answers other nodes, and for each torrent it is given announces us and reports
 * the peers found, on a timer: every 15 minutes, every 5 while downloading, sooner after a round
 * that reached nobody.
 */
export class DhtNode extends EventEmitter<DhtNodeEvents> {
  private readonly dht: DHT
  private readonly socket: DhtSocket
  private readonly tracked = new Map<string, Tracked>()
  private closed = false

  constructor(
    udpSocket: DatagramSocket,
    options: DhtNodeOptions,
    private readonly clock: Clock,
  ) {
    super()
    this.socket = new DhtSocket(udpSocket, (err) => this.emit('warning', `dht: ${err.message}`))
    this.dht = new DHT({
      socket: this.socket,
      bootstrap: options.bootstrap,
      maxAge: DHT_PEER_MAX_AGE_MS,
      ...(options.nodeId ? { nodeId: options.nodeId } : {}),
    })
    boundReplies(this.dht)
    for (const n of options.knownNodes ?? []) this.addNode({ address: n.host, port: n.port })
    this.dht.on('peer', (peer: { host: string; port: number }, infoHash: Uint8Array) => {
      const hex = Buffer.from(infoHash).toString('hex')
      if (this.tracked.has(hex) && peer.port > 0)
        this.emit('peer', hex, { address: peer.host, port: peer.port })
    })
    // Unanswered queries, undecodable datagrams: what a DHT node sees all day.
    this.dht.on('warning', () => {})
    this.dht.on('error', (err: Error) => this.emit('warning', `dht: ${err.message}`))
  }

  /** Nodes in the routing table. */
  get nodeCount(): number {
    return this.dht.nodes.count()
  }

  /** The routing table's contacts, closest to our id first: what dht-node-cache.ts saves. */
  contacts(): Array<{ host: string; port: number }> {
    return this.dht.nodes
      .closest(this.dht.nodeId, DHT_NODE_CACHE_MAX)
      .map((n) => ({ host: n.host, port: n.port }))
  }

  /** Resolves once the first bootstrap lookup has finished (whether or not anyone answered). */
  ready(): Promise<void> {
    if (this.dht.ready) return Promise.resolve()
    return new Promise((resolve) => this.dht.once('ready', () => resolve()))
  }

  /** A contact learnt elsewhere (a peer's PORT message, BEP 5): pinged, and kept if it answers. */
  addNode(contact: UdpAddress): void {
    if (!this.closed && contact.port > 0 && contact.port <= 65535) {
      this.dht.addNode({ host: contact.address, port: contact.port })
    }
  }

  /** Announces the torrent now and on the timer until `untrack`. */
  track(infoHash: Uint8Array, opts: { port: number; downloading: () => boolean }): void {
    const hex = Buffer.from(infoHash).toString('hex')
    if (this.closed || this.tracked.has(hex)) return
    const t: Tracked = {
      infoHash,
      port: opts.port,
      downloading: opts.downloading,
      timer: undefined,
      retryMs: DHT_RETRY_MS,
      round: 0,
    }
    this.tracked.set(hex, t)
    this.announce(hex, t)
  }

  untrack(infoHash: Uint8Array): void {
    const hex = Buffer.from(infoHash).toString('hex')
    const t = this.tracked.get(hex)
    if (!t) return
    if (t.timer !== undefined) this.clock.clearTimer(t.timer)
    this.tracked.delete(hex)
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    for (const t of this.tracked.values()) if (t.timer !== undefined) this.clock.clearTimer(t.timer)
    this.tracked.clear()
    return new Promise((resolve) => this.dht.destroy(() => resolve()))
  }

  /** One round: a get_peers lookup (peers arrive as events), then announce_peer to the closest nodes. */
  private announce(hex: string, t: Tracked): void {
    const round = ++t.round
    t.timer = this.clock.setTimer(DHT_ROUND_DEADLINE_MS, () => this.done(hex, t, round, 0))
    // bittorrent-dht's announce looks up first when it has no fresh table for the info hash; look up
    // explicitly so every round finds new peers and counts the nodes that answered.
    this.dht.lookup(t.infoHash, (lookupErr, n) => {
      if (this.closed || this.tracked.get(hex) !== t || t.round !== round) return
      const visited = n ?? 0
      if (lookupErr || visited === 0) return this.done(hex, t, round, 0)
      this.dht.announce(t.infoHash, t.port, (err) => this.done(hex, t, round, err ? 0 : visited))
    })
  }

  private done(hex: string, t: Tracked, round: number, nodes: number): void {
    if (this.closed || this.tracked.get(hex) !== t || t.round !== round) return
    t.round++ // this round has ended: its late callbacks are ignored
    if (t.timer !== undefined) this.clock.clearTimer(t.timer)
    this.emit('announced', hex, { nodes })
    let next: number
    if (nodes === 0) {
      next = t.retryMs
      t.retryMs = Math.min(t.retryMs * 2, DHT_ANNOUNCE_INTERVAL_MS)
    } else {
      t.retryMs = DHT_RETRY_MS
      next = t.downloading() ? DHT_LOOKUP_INTERVAL_MS : DHT_ANNOUNCE_INTERVAL_MS
    }
    t.timer = this.clock.setTimer(next, () => this.announce(hex, t))
  }
}
