import { EventEmitter } from 'node:events'
import type { Random } from '../../protocol/clock.js'
import {
  addressKey,
  type DatagramSocket,
  type DatagramSocketEvents,
  type UdpAddress,
} from '../../protocol/datagram-socket.js'
import { type Endpoint, type NatOptions, SimNat, toUdp } from './sim-nat.js'
import type { VirtualClock } from './virtual-clock.js'

export {
  DEFAULT_MAPPING_TIMEOUT_MS,
  NAT_PRESETS,
  type NatBehaviour,
  type NatMappingInfo,
  type NatOptions,
  type NatStats,
  SimNat,
} from './sim-nat.js'

/** One direction of a link. Unset fields are 0 (no delay, no jitter, no loss...). */
export interface PathOptions {
  /** One-way delay. @default 0 */
  delayMs?: number
  /** Uniform extra delay in [0, jitterMs) per packet, so packets can overtake each other. @default 0 */
  jitterMs?: number
  /** Probability that a packet is lost. @default 0 */
  loss?: number
  /** Probability that a second copy arrives slightly later. @default 0 */
  duplicate?: number
  /** Probability that a packet is held back by `reorderDelayMs`. @default 0 */
  reorder?: number
  /** @default 2 * delayMs + 1 */
  reorderDelayMs?: number
}

/** A host's (or NAT's) drop-tail uplink; bytes count the datagram plus 28 bytes of IP+UDP header. */
export interface UplinkOptions {
  rateBytesPerSec: number
  queueBytes: number
}

export interface QueueStats {
  queuedBytes: number
  drops: number
  sentBytes: number
  maxQueuedBytes: number
}

export interface NetworkStats {
  /** `send` calls accepted (socket open, port valid). */
  sent: number
  /** Copies handed to a socket, duplicates included. */
  delivered: number
  lost: number
  duplicated: number
  droppedByQueue: number
  /** Unsolicited or filtered inbound, and hairpin on a NAT without it. */
  droppedByNat: number
  /** Low-TTL datagrams that died at the sender's NAT after opening its mapping. */
  droppedByTtl: number
  /** No socket at the destination, or no host / route for its address. */
  droppedNoListener: number
}

/** Where port 0 binds start, per host. */
export const EPHEMERAL_PORT_START = 40_000
const IP_UDP_HEADER_BYTES = 28
const DEFAULT_TTL = 64

/** A machine with one address; behind a NAT or (nat null) on the public internet. */
export class SimHost {
  /** @internal */ readonly sockets = new Map<number, MemorySocket>()
  /** @internal */ nextEphemeral = EPHEMERAL_PORT_START

  /** Created by `MemoryNetwork.host`. */
  constructor(
    private readonly network: MemoryNetwork,
    readonly ip: string,
    readonly nat: SimNat | null,
  ) {}

  /** Binds a socket on this host; port 0 picks a free ephemeral port. Throws if the port is taken. */
  bind(port = 0): MemorySocket {
    return this.network.bindOn(this, port)
  }
}

type Transmit = (socket: MemorySocket, bytes: Uint8Array, to: UdpAddress, ttl: number) => void

/** A UDP socket on the in-memory network; created by `MemoryNetwork.bind` or `SimHost.bind`. */
export class MemorySocket extends EventEmitter<DatagramSocketEvents> implements DatagramSocket {
  private ttl = DEFAULT_TTL
  private closedFlag = false

  constructor(
    readonly host: SimHost,
    readonly port: number,
    private readonly transmit: Transmit,
    private readonly onClose: (socket: MemorySocket) => void,
  ) {
    super()
  }

  get closed(): boolean {
    return this.closedFlag
  }

  send(bytes: Uint8Array, to: UdpAddress): void {
    if (!this.closedFlag) this.transmit(this, bytes, to, this.ttl)
  }

  address(): UdpAddress {
    return toUdp({ ip: this.host.ip, port: this.port })
  }

  setTTL(ttl: number): void {
    this.ttl = ttl
  }

  close(): void {
    if (this.closedFlag) return
    this.closedFlag = true
    this.onClose(this)
  }
}

interface Packet {
  src: Endpoint
  dst: Endpoint
  bytes: Uint8Array
}

class Uplink {
  queuedBytes = 0
  drops = 0
  sentBytes = 0
  maxQueuedBytes = 0
  busyUntil = 0
  constructor(public options: UplinkOptions) {}
}

type Node = SimHost | SimNat

/**
 * A deterministic in-memory UDP internet. Every delivery goes through the virtual clock, and every random
 * choice (loss, jitter, NAT ports) comes from the one injected Random, in a fixed order per packet, so the
 * same seed and the same sends replay the same deliveries.
 *
 * Routing: a host behind a NAT reaches hosts behind the same NAT directly by private address; anything else
 * leaves through the NAT. Public hosts and NAT public addresses make up the internet. Paths are looked up by
 * (sender ip, destination ip as addressed), then (sender's NAT public ip, destination ip), then the default.
 */
export class MemoryNetwork {
  private readonly clock: VirtualClock
  private readonly random: Random
  private readonly publicHosts = new Map<string, SimHost>()
  private readonly privateHosts = new Map<SimNat, Map<string, SimHost>>()
  private readonly nats = new Map<string, SimNat>()
  private readonly paths = new Map<string, PathOptions>()
  private readonly uplinks = new Map<Node, Uplink>()
  private defaults: PathOptions = {}
  private readonly counters: NetworkStats = {
    sent: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    droppedByQueue: 0,
    droppedByNat: 0,
    droppedByTtl: 0,
    droppedNoListener: 0,
  }

  constructor(opts: { clock: VirtualClock; random: Random }) {
    this.clock = opts.clock
    this.random = opts.random
  }

  /** A router with public address `publicIp`; put hosts behind it with `host(ip, { behind })`. */
  nat(publicIp: string, options: NatOptions): SimNat {
    if (this.nats.has(publicIp) || this.publicHosts.has(publicIp)) throw new Error(`${publicIp} is taken`)
    const nat = new SimNat(publicIp, options, this.clock, this.random)
    this.nats.set(publicIp, nat)
    this.privateHosts.set(nat, new Map())
    return nat
  }

  /** The host at `ip` (behind `behind`, or public), created on first use. */
  host(ip: string, opts: { behind?: SimNat } = {}): SimHost {
    const nat = opts.behind ?? null
    const realm = nat === null ? this.publicHosts : this.privateHosts.get(nat)
    if (realm === undefined) throw new Error('that NAT belongs to another network')
    if (nat === null && this.nats.has(ip)) throw new Error(`${ip} is a NAT's public address`)
    if (nat !== null && nat.options.translation === 'none' && ip !== nat.publicIp)
      throw new Error(`a firewall's host sits at its address ${nat.publicIp}`)
    let host = realm.get(ip)
    if (host === undefined) {
      host = new SimHost(this, ip, nat)
      realm.set(ip, host)
    }
    return host
  }

  /** Binds a socket at `address:port` (port 0: ephemeral, from 40000). Throws if the port is taken. */
  bind(address: string, port = 0, opts: { behind?: SimNat } = {}): MemorySocket {
    return this.host(address, opts).bind(port)
  }

  /** Sets the one-way path from `fromIp` to `toIp` (unset fields are 0). */
  path(fromIp: string, toIp: string, p: PathOptions): void {
    this.paths.set(`${fromIp}>${toIp}`, { ...p })
  }

  /** Sets both directions between `a` and `b`. */
  link(a: string, b: string, p: PathOptions): void {
    this.path(a, b, p)
    this.path(b, a, p)
  }

  /** The path used where no `path` was set. */
  defaultPath(p: PathOptions): void {
    this.defaults = { ...p }
  }

  /**
   * Puts a FIFO drop-tail bottleneck on everything `ip` sends: a host's ip, or a NAT's public ip (the
   * shared WAN link of the hosts behind it). `null` removes it.
   */
  uplink(ip: string, u: UplinkOptions | null): void {
    const node = this.resolve(ip)
    if (u === null) this.uplinks.delete(node)
    else {
      const existing = this.uplinks.get(node)
      if (existing) existing.options = { ...u }
      else this.uplinks.set(node, new Uplink({ ...u }))
    }
  }

  queueStats(ip: string): QueueStats {
    const q = this.uplinks.get(this.resolve(ip))
    if (q === undefined) return { queuedBytes: 0, drops: 0, sentBytes: 0, maxQueuedBytes: 0 }
    return {
      queuedBytes: q.queuedBytes,
      drops: q.drops,
      sentBytes: q.sentBytes,
      maxQueuedBytes: q.maxQueuedBytes,
    }
  }

  /** The wait a datagram entering `ip`'s uplink now would see. */
  queueDelayMs(ip: string): number {
    const q = this.uplinks.get(this.resolve(ip))
    return q === undefined ? 0 : (q.queuedBytes / q.options.rateBytesPerSec) * 1000
  }

  stats(): NetworkStats {
    return { ...this.counters }
  }

  /** @internal */
  bindOn(host: SimHost, port: number): MemorySocket {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`bad port ${port}`)
    if (port === 0) port = this.ephemeralPort(host)
    else if (host.sockets.has(port)) throw new Error(`${addressKey({ address: host.ip, port })} is in use`)
    const socket = new MemorySocket(
      host,
      port,
      (s, bytes, to, ttl) => this.transmit(s, bytes, to, ttl),
      (s) => {
        if (host.sockets.get(s.port) === s) host.sockets.delete(s.port)
        // Like dgram, 'close' comes after close() returns.
        this.clock.setTimer(0, () => s.emit('close'))
      },
    )
    host.sockets.set(port, socket)
    return socket
  }

  private ephemeralPort(host: SimHost): number {
    for (let i = 0; i < 65536 - EPHEMERAL_PORT_START; i++) {
      const port = host.nextEphemeral
      host.nextEphemeral = port >= 65535 ? EPHEMERAL_PORT_START : port + 1
      if (!host.sockets.has(port)) return port
    }
    throw new Error(`no free ephemeral port on ${host.ip}`)
  }

  private resolve(ip: string): Node {
    const node = this.nats.get(ip) ?? this.publicHosts.get(ip)
    if (node !== undefined) return node
    const found = [...this.privateHosts.values()].flatMap((realm) => realm.get(ip) ?? [])
    if (found.length === 1) return found[0]!
    throw new Error(found.length === 0 ? `unknown host ${ip}` : `${ip} is ambiguous (behind several NATs)`)
  }

  private transmit(socket: MemorySocket, bytes: Uint8Array, to: UdpAddress, ttl: number): void {
    if (!Number.isInteger(to.port) || to.port <= 0 || to.port > 65535) {
      // dgram reports a bad destination; never throw out of send.
      this.clock.setTimer(0, () => {
        if (socket.listenerCount('error') > 0) socket.emit('error', new RangeError(`bad port ${to.port}`))
      })
      return
    }
    this.counters.sent++
    const host = socket.host
    // Copy now: the sender may reuse its buffer as soon as send returns.
    const pkt: Packet = {
      src: { ip: host.ip, port: socket.port },
      dst: { ip: to.address, port: to.port },
      bytes: bytes.slice(),
    }
    this.enqueue(host, pkt, () => this.leaveHost(host, pkt, ttl))
  }

  private leaveHost(host: SimHost, pkt: Packet, ttl: number): void {
    const nat = host.nat
    if (nat === null) {
      this.travel(pkt, host.ip, null, (p) => this.arrivePublic(p))
      return
    }
    const lan = this.privateHosts.get(nat)!
    if (lan.has(pkt.dst.ip)) {
      this.travel(pkt, host.ip, null, (p) => this.arriveIn(lan, p))
      return
    }
    const translated = nat.translateOut(pkt.src, pkt.dst)
    if (translated === null) {
      this.counters.droppedByNat++
      return
    }
    pkt.src = translated
    // Hops: the sender's router (its NAT or firewall), one router between the sites, the receiver's.
    // So a TTL-2 punch probe opens its own router's state and dies between the sites.
    if (ttl <= 2) {
      this.counters.droppedByTtl++
      return
    }
    if (pkt.dst.ip === nat.publicIp) {
      if (!nat.options.hairpin) {
        this.counters.droppedByNat++
        return
      }
      this.travel(pkt, host.ip, nat.publicIp, (p) => this.arrivePublic(p))
      return
    }
    this.enqueue(nat, pkt, () => this.travel(pkt, host.ip, nat.publicIp, (p) => this.arrivePublic(p)))
  }

  private enqueue(node: Node, pkt: Packet, next: () => void): void {
    const q = this.uplinks.get(node)
    if (q === undefined) {
      next()
      return
    }
    const size = pkt.bytes.length + IP_UDP_HEADER_BYTES
    if (q.queuedBytes + size > q.options.queueBytes) {
      q.drops++
      this.counters.droppedByQueue++
      return
    }
    q.queuedBytes += size
    if (q.queuedBytes > q.maxQueuedBytes) q.maxQueuedBytes = q.queuedBytes
    q.busyUntil = Math.max(this.clock.now(), q.busyUntil) + (size / q.options.rateBytesPerSec) * 1000
    this.clock.setTimerAt(q.busyUntil, () => {
      q.queuedBytes -= size
      q.sentBytes += size
      next()
    })
  }

  private pathFor(fromIp: string, viaIp: string | null, toIp: string): PathOptions {
    return (
      this.paths.get(`${fromIp}>${toIp}`) ??
      (viaIp === null ? undefined : this.paths.get(`${viaIp}>${toIp}`)) ??
      this.defaults
    )
  }

  /** Applies the path's loss, delay, jitter, reordering and duplication, then schedules arrival. */
  private travel(pkt: Packet, fromIp: string, viaIp: string | null, arrive: (p: Packet) => void): void {
    const p = this.pathFor(fromIp, viaIp, pkt.dst.ip)
    const rnd = this.random
    const delayMs = p.delayMs ?? 0
    const jitterMs = p.jitterMs ?? 0
    if ((p.loss ?? 0) > 0 && rnd.next() < p.loss!) {
      this.counters.lost++
      return
    }
    let delay = delayMs + (jitterMs > 0 ? rnd.next() * jitterMs : 0)
    if ((p.reorder ?? 0) > 0 && rnd.next() < p.reorder!) delay += p.reorderDelayMs ?? 2 * delayMs + 1
    this.clock.setTimer(delay, () => arrive(pkt))
    if ((p.duplicate ?? 0) > 0 && rnd.next() < p.duplicate!) {
      this.counters.duplicated++
      const copy = { ...pkt, bytes: pkt.bytes.slice() }
      const extra = 1 + (jitterMs > 0 ? rnd.next() * jitterMs : 0)
      this.clock.setTimer(delay + extra, () => arrive(copy))
    }
  }

  private arrivePublic(pkt: Packet): void {
    const nat = this.nats.get(pkt.dst.ip)
    if (nat === undefined) {
      this.arriveIn(this.publicHosts, pkt)
      return
    }
    const inside = nat.translateIn(pkt.src, pkt.dst.port)
    if (inside === null) {
      this.counters.droppedByNat++
      return
    }
    this.deliver(this.privateHosts.get(nat)!.get(inside.ip), inside.port, pkt)
  }

  private arriveIn(realm: Map<string, SimHost>, pkt: Packet): void {
    this.deliver(realm.get(pkt.dst.ip), pkt.dst.port, pkt)
  }

  private deliver(host: SimHost | undefined, port: number, pkt: Packet): void {
    const socket = host?.sockets.get(port)
    if (socket === undefined || socket.closed) {
      this.counters.droppedNoListener++
      return
    }
    this.counters.delivered++
    socket.emit('message', pkt.bytes, toUdp(pkt.src))
  }
}
