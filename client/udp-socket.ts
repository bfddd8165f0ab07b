import { createSocket } from 'node:dgram'
import { lookup as dnsLookup, type LookupOptions } from 'node:dns'
import { EventEmitter } from 'node:events'
import { isIP, isIPv4 } from 'node:net'
import type { DatagramSocket, DatagramSocketEvents, UdpAddress } from '../protocol/datagram-socket.js'
import { TransportError } from '../protocol/errors.js'
import { BatchUdpIo, type UdpIoSink } from './udp-batch/batch-udp-io.js'
import { nativeUdpBatch } from './udp-batch/native-udp-batch.js'

/** Socket buffers asked for; the kernel caps them at net.core.rmem_max / wmem_max (read back the grant). */
export const DEFAULT_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024

export interface UdpSocketOptions {
  /** @default '0.0.0.0' (or '::' for udp6) */
  host?: string
  /** 0 picks a free port. @default 0 */
  port?: number
  /** @default 'udp4' */
  type?: 'udp4' | 'udp6'
  /** @default DEFAULT_SOCKET_BUFFER_BYTES */
  recvBufferSize?: number
  /** @default DEFAULT_SOCKET_BUFFER_BYTES */
  sendBufferSize?: number
  /** false: node:dgram even where the batched addon is built. @default true */
  batched?: boolean
}

/**
 * dgram resolves the address of every datagram sent (dns.lookup, answered on the next tick even for
 * an IP literal); at uTP's packet rates that was a visible share of a sender's CPU and garbage. IP
 * literals, which is what peers are, are answered at once; names still go to dns.lookup.
 */
const literalFirstLookup = ((
  hostname: string,
  options: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
) => {
  const family = isIP(hostname)
  if (family !== 0) callback(null, hostname, family)
  else dnsLookup(hostname, options as LookupOptions, callback as never)
}) as unknown as typeof dnsLookup

type MessageListener = (bytes: Uint8Array, from: UdpAddress) => void

/** A UDP backend: node:dgram, or the batched addon where it is built. */
interface UdpIo {
  send(bytes: Uint8Array, port: number, address: string): void
  address(): UdpAddress
  setTTL(ttl: number): void
  bufferSizes(): { recv: number; send: number }
  close(): void
}

/**
 * The client's one shared UDP socket behind the DatagramSocket seam: on Linux the batched addon
 * (client/udp-batch: recvmmsg/sendmmsg, one system call per batch of datagrams each way), elsewhere
 * or without it node:dgram. Send failures are reported through `error`, never thrown: a datagram
 * network may always lose a packet.
 */
export class UdpSocket extends EventEmitter<DatagramSocketEvents> implements DatagramSocket {
  private closed = false
  private io!: UdpIo
  /**
   * 'message' listeners, called directly: EventEmitter copies its listener array and the arguments on
   * every emit with more than one listener, and uTP receives tens of thousands of datagrams a second.
   * Replaced (never mutated) on change, so a listener may unsubscribe while a datagram is dispatched.
   */
  private messageListeners: readonly MessageListener[] = []

  private readonly sink: UdpIoSink = {
    message: (bytes, from) => {
      const listeners = this.messageListeners
      for (let i = 0; i < listeners.length; i++) listeners[i]!(bytes, from)
    },
    error: (err) =>
      this.emit('error', new TransportError('TRANSPORT_SOCKET_ERROR', err.message, { cause: err })),
  }

  private constructor() {
    super()
  }

  /** Whether this socket runs on the batched addon (the CLI's `listening` event says which). */
  get batched(): boolean {
    return this.io instanceof BatchUdpIo
  }

  override on<E extends keyof DatagramSocketEvents>(
    event: E,
    listener: (...args: DatagramSocketEvents[E]) => void,
  ): this {
    return this.addListener(event, listener)
  }

  override addListener<E extends keyof DatagramSocketEvents>(
    event: E,
    listener: (...args: DatagramSocketEvents[E]) => void,
  ): this {
    if (event !== 'message') return super.addListener(event, listener as never)
    this.messageListeners = [...this.messageListeners, listener as MessageListener]
    return this
  }

  override off<E extends keyof DatagramSocketEvents>(
    event: E,
    listener: (...args: DatagramSocketEvents[E]) => void,
  ): this {
    return this.removeListener(event, listener)
  }

  override removeListener<E extends keyof DatagramSocketEvents>(
    event: E,
    listener: (...args: DatagramSocketEvents[E]) => void,
  ): this {
    if (event !== 'message') return super.removeListener(event, listener as never)
    // `once` registers a wrapper that names the original listener as `.listener`.
    const at = this.messageListeners.findLastIndex(
      (l) => l === listener || (l as { listener?: unknown }).listener === listener,
    )
    if (at >= 0) this.messageListeners = this.messageListeners.filter((_, i) => i !== at)
    return this
  }

  override removeAllListeners(event?: keyof DatagramSocketEvents): this {
    if (event === undefined || event === 'message') this.messageListeners = []
    return event === 'message' ? this : super.removeAllListeners(event)
  }

  override listenerCount<E extends keyof DatagramSocketEvents>(event: E): number {
    return event === 'message' ? this.messageListeners.length : super.listenerCount(event)
  }

  /** Binds a socket; rejects with TransportError if the port is taken. */
  static async open(options: UdpSocketOptions = {}): Promise<UdpSocket> {
    const type = options.type ?? 'udp4'
    const host = options.host ?? (type === 'udp6' ? '::' : '0.0.0.0')
    const port = options.port ?? 0
    const socket = new UdpSocket()
    const native = nativeUdpBatch()
    try {
      socket.io =
        native && options.batched !== false && type === 'udp4' && isIPv4(host)
          ? BatchUdpIo.open(native, socket.sink, {
              host,
              port,
              recvBufferSize: options.recvBufferSize ?? DEFAULT_SOCKET_BUFFER_BYTES,
              sendBufferSize: options.sendBufferSize ?? DEFAULT_SOCKET_BUFFER_BYTES,
            })
          : await openDgram(socket.sink, type, host, port, options)
    } catch (err) {
      throw new TransportError(
        'TRANSPORT_SOCKET_ERROR',
        `cannot bind UDP ${options.host ?? ''}:${port}: ${(err as Error).message}`,
      )
    }
    return socket
  }

  send(bytes: Uint8Array, to: UdpAddress): void {
    if (!this.closed) this.io.send(bytes, to.port, to.address)
  }

  address(): UdpAddress {
    return this.io.address()
  }

  setTTL(ttl: number): void {
    if (!this.closed) this.io.setTTL(ttl)
  }

  /** The buffer sizes the kernel granted (it may cap what was asked). */
  bufferSizes(): { recv: number; send: number } {
    return this.io.bufferSizes()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.io.close()
    process.nextTick(() => this.emit('close'))
  }
}

async function openDgram(
  sink: UdpIoSink,
  type: 'udp4' | 'udp6',
  host: string,
  port: number,
  options: UdpSocketOptions,
): Promise<UdpIo> {
  const raw = createSocket({
    type,
    lookup: literalFirstLookup,
    recvBufferSize: options.recvBufferSize ?? DEFAULT_SOCKET_BUFFER_BYTES,
    sendBufferSize: options.sendBufferSize ?? DEFAULT_SOCKET_BUFFER_BYTES,
  })
  await new Promise<void>((resolve, reject) => {
    raw.once('error', reject)
    raw.bind(port, host, () => {
      raw.off('error', reject)
      resolve()
    })
  })
  // Node's rinfo ({ address, family: 'IPv4' | 'IPv6', port, size }) is a UdpAddress as it is, and
  // its Buffer a Uint8Array: both are handed on without a copy.
  raw.on('message', sink.message)
  raw.on('error', sink.error)
  return {
    // No callback: a send failure surfaces as the socket's 'error'. Skipping the per-datagram
    // callback matters at uTP's packet rates.
    send: (bytes, toPort, toAddress) => {
      try {
        raw.send(bytes, toPort, toAddress)
      } catch (err) {
        // dgram throws for a port out of range (0 included): a bad address, reported like the rest.
        sink.error(err as Error)
      }
    },
    address: () => {
      const a = raw.address()
      return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' }
    },
    setTTL: (ttl) => raw.setTTL(ttl),
    bufferSizes: () => ({ recv: raw.getRecvBufferSize(), send: raw.getSendBufferSize() }),
    close: () => raw.close(),
  }
}
