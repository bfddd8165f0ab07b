import { createSocket, type Socket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import type { DatagramSocket, DatagramSocketEvents, UdpAddress } from '../protocol/datagram-socket.js'
import { TransportError } from '../protocol/errors.js'

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
}

/**
 * node:dgram behind the DatagramSocket seam: the client's one shared UDP socket. Send failures are
 * reported through `error`, never thrown: a datagram network may always lose a packet.
 */
export class UdpSocket extends EventEmitter<DatagramSocketEvents> implements DatagramSocket {
  private closed = false

  private constructor(private readonly raw: Socket) {
    super()
    raw.on('message', (msg, rinfo) => {
      this.emit('message', new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), {
        address: rinfo.address,
        port: rinfo.port,
        family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
      })
    })
    raw.on('error', (err) =>
      this.emit('error', new TransportError('TRANSPORT_SOCKET_ERROR', err.message, { cause: err })),
    )
    raw.on('close', () => this.emit('close'))
  }

  /** Binds a socket; rejects with TransportError if the port is taken. */
  static async open(options: UdpSocketOptions = {}): Promise<UdpSocket> {
    const type = options.type ?? 'udp4'
    const raw = createSocket({
      type,
      recvBufferSize: options.recvBufferSize ?? DEFAULT_SOCKET_BUFFER_BYTES,
      sendBufferSize: options.sendBufferSize ?? DEFAULT_SOCKET_BUFFER_BYTES,
    })
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) =>
        reject(
          new TransportError(
            'TRANSPORT_SOCKET_ERROR',
            `cannot bind UDP ${options.host ?? ''}:${options.port ?? 0}: ${err.message}`,
          ),
        )
      raw.once('error', onError)
      raw.bind(options.port ?? 0, options.host ?? (type === 'udp6' ? '::' : '0.0.0.0'), () => {
        raw.off('error', onError)
        resolve()
      })
    })
    return new UdpSocket(raw)
  }

  send(bytes: Uint8Array, to: UdpAddress): void {
    if (this.closed) return
    // No callback: a send failure surfaces as the raw socket's 'error', forwarded above. Skipping the
    // per-datagram callback matters at uTP's packet rates.
    this.raw.send(bytes, to.port, to.address)
  }

  address(): UdpAddress {
    const a = this.raw.address()
    return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' }
  }

  setTTL(ttl: number): void {
    if (!this.closed) this.raw.setTTL(ttl)
  }

  /** The buffer sizes the kernel granted (it may cap what was asked). */
  bufferSizes(): { recv: number; send: number } {
    return { recv: this.raw.getRecvBufferSize(), send: this.raw.getSendBufferSize() }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.raw.close()
  }
}
