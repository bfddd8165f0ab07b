import { EventEmitter } from 'node:events'
import type { Clock, Random, TimerHandle } from '../../protocol/clock.js'
import type { DatagramSocket, UdpAddress } from '../../protocol/datagram-socket.js'
import { TransportError, throwIfAborted } from '../../protocol/errors.js'
import { classifyClientDatagram } from '../../protocol/udp-framing.js'
import { UtpConnection } from '../../protocol/utp/utp-connection.js'
import type { UtpConnectionHost, UtpConnectionOptions } from '../../protocol/utp/utp-connection-types.js'
import { decodePacket, encodePacket, type UtpPacket } from '../../protocol/utp/utp-packet.js'
import { realClock, realRandom } from '../real-clock.js'
import { ConnectionTable } from './connection-table.js'
import { UtpStream } from './utp-stream.js'

export interface UtpEndpointOptions extends UtpConnectionOptions {
  clock?: Clock
  random?: Random
  /** Runs `fn` after the current batch of datagrams (default setImmediate); simulations use their clock. */
  defer?: (fn: () => void) => void
  /** Incoming connections beyond this are refused with a RESET. @default 1024 */
  maxConnections?: number
  /** A cleanly closed connection lingers this long to re-ack a retransmitted FIN. @default 3000 */
  lingerMs?: number
}

/** Where a connection's events go: a UtpStream, or (in simulations) a synchronous consumer. */
export type UtpSink = Pick<
  UtpConnectionHost,
  'onConnect' | 'onData' | 'onEnd' | 'onDrain' | 'onFinish' | 'onClose' | 'readBacklog'
> & {
  /** The endpoint is closing: tear down (a stream destroys itself). Default: destroy the connection. */
  onAbort?(): void
}

/** Makes the sink for an accepted connection; without one, the endpoint emits a UtpStream. */
export type UtpAcceptor = (connection: UtpConnection, remote: UdpAddress) => UtpSink

export interface UtpEndpointEvents {
  connection: [stream: UtpStream]
  error: [err: Error]
}

/** Datagram counters for this endpoint (drops are reported, never thrown). */
export interface UtpEndpointStats {
  packetsIn: number
  malformed: number
  unknownConnection: number
  resetsSent: number
  refused: number
}

/** One connection's shell: its timer, its place in the endpoint's maps, its sink. */
interface ConnectionSlot {
  remote: UdpAddress
  recvId: number
  sendId: number
  sink: UtpSink
  /** Tears the connection down from outside (endpoint close). */
  abort: () => void
  connection: UtpConnection
  timer: TimerHandle | undefined
  timerAt: number
  closed: boolean
}

/**
 * uTP over the client's shared UDP socket. The socket also carries rendezvous and DHT datagrams;
 * this endpoint takes only what classifies as uTP and leaves the rest to the other listeners, so a
 * connection can run over a hole another component just punched. Connections are keyed by the
 * peer's address and the connection id packets arrive with.
 */
export class UtpEndpoint extends EventEmitter<UtpEndpointEvents> {
  private readonly clock: Clock
  private readonly random: Random
  private readonly defer: (fn: () => void) => void
  private readonly slots = new ConnectionTable<ConnectionSlot>()
  /** Same slots by the id we send with: a peer's RESET may carry either id. */
  private readonly bySendId = new ConnectionTable<ConnectionSlot>()
  private readonly dirty = new Set<ConnectionSlot>()
  private flushScheduled = false
  private listening = false
  private acceptor: UtpAcceptor | undefined
  private closed = false
  readonly stats: UtpEndpointStats = {
    packetsIn: 0,
    malformed: 0,
    unknownConnection: 0,
    resetsSent: 0,
    refused: 0,
  }

  constructor(
    readonly socket: DatagramSocket,
    private readonly options: UtpEndpointOptions = {},
  ) {
    super()
    this.clock = options.clock ?? realClock
    this.random = options.random ?? realRandom
    this.defer = options.defer ?? ((fn) => setImmediate(fn))
    socket.on('message', this.onMessage)
  }

  /** Accepts incoming connections from now on, as 'connection' events (or through `acceptor`). */
  listen(acceptor?: UtpAcceptor): this {
    this.listening = true
    this.acceptor = acceptor
    return this
  }

  get connectionCount(): number {
    return this.slots.size
  }

  /** Opens a connection; resolves once the peer answered the SYN. */
  async connect(to: UdpAddress, opts: { signal?: AbortSignal } = {}): Promise<UtpStream> {
    throwIfAborted(opts.signal)
    if (this.closed) throw new TransportError('TRANSPORT_CLOSED', 'uTP endpoint is closed')
    const stream = new UtpStream(to)
    const connection = this.open(to, (c) => {
      stream.connection = c
      return stream.streamHost()
    })
    const slotClosed = connection.state === 'closed'
    return await new Promise<UtpStream>((resolve, reject) => {
      const onAbort = () => {
        cleanup()
        stream.destroy()
        reject(opts.signal!.reason)
      }
      const onConnect = () => {
        cleanup()
        resolve(stream)
      }
      const onError = (err: Error) => {
        cleanup()
        reject(err)
      }
      const onClose = () => {
        cleanup()
        reject(new TransportError('TRANSPORT_CLOSED', 'uTP connection closed before it opened'))
      }
      const cleanup = () => {
        opts.signal?.removeEventListener('abort', onAbort)
        stream.off('connect', onConnect)
        stream.off('error', onError)
        stream.off('close', onClose)
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      stream.once('connect', onConnect)
      stream.once('error', onError)
      stream.once('close', onClose)
      if (slotClosed) onClose()
    })
  }

  /**
   * Opens a connection whose events go to `makeSink(connection)`: the synchronous form of `connect`,
   * which simulations use to drive the endpoint without stream ticks.
   */
  open(to: UdpAddress, makeSink: (connection: UtpConnection) => UtpSink): UtpConnection {
    if (this.closed) throw new TransportError('TRANSPORT_CLOSED', 'uTP endpoint is closed')
    let recvId: number
    do recvId = this.random.int(0x10000)
    while (this.slots.has(to, recvId) || this.slots.has(to, (recvId + 1) & 0xffff))
    return this.attach(to, recvId, (recvId + 1) & 0xffff, makeSink, (host) =>
      UtpConnection.connect(host, recvId, this.random.int(0x10000), this.options),
    ).connection
  }

  /** Destroys every connection and stops listening; the shared socket stays open for its other users. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.listening = false
    for (const slot of [...this.slots.values()]) {
      slot.abort()
      this.detach(slot)
    }
    this.socket.off('message', this.onMessage)
  }

  private readonly onMessage = (bytes: Uint8Array, from: UdpAddress): void => {
    if (classifyClientDatagram(bytes) !== 'utp') return
    this.stats.packetsIn++
    let p: UtpPacket
    try {
      p = decodePacket(bytes)
    } catch {
      this.stats.malformed++
      return
    }
    if (p.type === 'syn') {
      this.onSyn(p, from)
      return
    }
    const slot = this.slots.get(from, p.connectionId)
    if (slot) {
      slot.connection.onPacket(p)
      this.rearm(slot)
      return
    }
    if (p.type === 'reset') {
      const bySend = this.bySendId.get(from, p.connectionId)
      if (bySend) {
        bySend.connection.onPacket(p)
        this.rearm(bySend)
      }
      return
    }
    // BEP 29: a packet for no connection we know is answered with a RESET.
    this.stats.unknownConnection++
    this.sendReset(p, from)
  }

  private onSyn(p: UtpPacket, from: UdpAddress): void {
    const existing = this.slots.get(from, (p.connectionId + 1) & 0xffff)
    if (existing) {
      existing.connection.onPacket(p)
      this.rearm(existing)
      return
    }
    const maxConnections = this.options.maxConnections ?? 1024
    if (!this.listening || this.closed || this.slots.size >= maxConnections) {
      this.stats.refused++
      this.sendReset(p, from)
      return
    }
    const recvId = (p.connectionId + 1) & 0xffff
    let stream: UtpStream | undefined
    const makeSink = (c: UtpConnection): UtpSink => {
      if (this.acceptor) return this.acceptor(c, from)
      stream = new UtpStream(from)
      stream.connection = c
      return stream.streamHost()
    }
    this.attach(from, recvId, p.connectionId, makeSink, (host) =>
      UtpConnection.accept(host, p, this.random.int(0x10000), this.options),
    )
    if (stream) this.emit('connection', stream)
  }

  private attach(
    remote: UdpAddress,
    recvId: number,
    sendId: number,
    makeSink: (connection: UtpConnection) => UtpSink,
    open: (host: UtpConnectionHost) => UtpConnection,
  ): ConnectionSlot {
    // Events that fire before the sink exists (none do today) would be lost: the sink is made at once.
    const pending: UtpSink = {
      onConnect: () => {},
      onData: () => {},
      onEnd: () => {},
      onDrain: () => {},
      onFinish: () => {},
      onClose: () => {},
      readBacklog: () => 0,
    }
    const slot: ConnectionSlot = {
      // A copy of the address alone (a real socket's `from` is Node's rinfo, with its `size`).
      remote: remote.family
        ? { address: remote.address, port: remote.port, family: remote.family }
        : { address: remote.address, port: remote.port },
      recvId,
      sendId,
      sink: pending,
      abort: () => (slot.sink.onAbort ? slot.sink.onAbort() : slot.connection.destroy()),
      connection: undefined as unknown as UtpConnection,
      timer: undefined,
      timerAt: Number.POSITIVE_INFINITY,
      closed: false,
    }
    this.slots.set(slot.remote, recvId, slot)
    this.bySendId.set(slot.remote, sendId, slot)
    const remoteCopy = slot.remote
    slot.connection = open({
      onConnect: () => slot.sink.onConnect(),
      onData: (chunk) => slot.sink.onData(chunk),
      onEnd: () => slot.sink.onEnd(),
      onDrain: () => slot.sink.onDrain(),
      onFinish: () => slot.sink.onFinish(),
      readBacklog: () => slot.sink.readBacklog(),
      now: () => this.clock.now(),
      send: (bytes) => this.socket.send(bytes, remoteCopy),
      requestFlush: () => this.requestFlush(slot),
      onClose: (error) => {
        slot.closed = true
        // A clean close lingers so a retransmitted FIN still gets its ack; a failed one goes now.
        if (error || !slot.connection.closedGracefully) this.detach(slot)
        else this.clock.setTimer(this.options.lingerMs ?? 3000, () => this.detach(slot))
        slot.sink.onClose(error)
      },
    })
    slot.sink = makeSink(slot.connection)
    this.rearm(slot)
    return slot
  }

  private detach(slot: ConnectionSlot): void {
    if (slot.timer !== undefined) this.clock.clearTimer(slot.timer)
    slot.timer = undefined
    this.slots.deleteIf(slot.remote, slot.recvId, slot)
    this.bySendId.deleteIf(slot.remote, slot.sendId, slot)
    this.dirty.delete(slot)
  }

  private requestFlush(slot: ConnectionSlot): void {
    this.dirty.add(slot)
    if (this.flushScheduled) return
    this.flushScheduled = true
    this.defer(this.flushAll)
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false
    for (const slot of this.dirty) {
      this.dirty.delete(slot)
      slot.connection.flush()
      this.rearm(slot)
    }
  }

  /** Keeps one timer per connection at (or before) its next deadline; early firing is harmless. */
  private rearm(slot: ConnectionSlot): void {
    const at = slot.connection.nextDeadline()
    if (at === undefined) {
      if (slot.timer !== undefined) this.clock.clearTimer(slot.timer)
      slot.timer = undefined
      slot.timerAt = Number.POSITIVE_INFINITY
      return
    }
    if (slot.timer !== undefined && slot.timerAt <= at) return
    if (slot.timer !== undefined) this.clock.clearTimer(slot.timer)
    slot.timerAt = at
    slot.timer = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => {
      slot.timer = undefined
      slot.timerAt = Number.POSITIVE_INFINITY
      slot.connection.onTimer()
      this.rearm(slot)
    })
  }

  private sendReset(p: UtpPacket, to: UdpAddress): void {
    this.stats.resetsSent++
    this.socket.send(
      encodePacket({
        type: 'reset',
        connectionId: p.connectionId,
        timestamp: Math.floor(this.clock.now() * 1000) >>> 0,
        timestampDiff: 0,
        windowSize: 0,
        seq: this.random.int(0x10000),
        ack: p.seq,
        payload: new Uint8Array(0),
      }),
      to,
    )
  }
}
