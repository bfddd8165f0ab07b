import { Duplex } from 'node:stream'
import type { UdpAddress } from '../../protocol/datagram-socket.js'
import type { TransportError } from '../../protocol/errors.js'
import type { UtpConnection } from '../../protocol/utp/utp-connection.js'
import type { UtpSink } from './utp-endpoint.js'

/**
 * A uTP connection as a Node Duplex, so it pipes straight into bittorrent-protocol's Wire.
 * Backpressure both ways: a write's callback waits while the connection's send buffer is full, and
 * unread data shrinks the receive window the peer sees (the window reopens as the reader reads).
 * `end()` sends a FIN after the buffered data; 'finish' fires once the peer acknowledged all of it.
 */
export class UtpStream extends Duplex {
  readonly remoteAddress: string
  readonly remotePort: number
  /** Set by the endpoint right after construction. */
  connection!: UtpConnection
  private pendingWrite: ((err?: Error | null) => void) | undefined
  private pendingFinal: ((err?: Error | null) => void) | undefined
  /**
   * Payloads of the current batch of datagrams, pushed as one chunk once the batch is handled.
   * Consumers that join what they buffer on every chunk (bittorrent-protocol's Wire does) would copy
   * a 16 KiB message a dozen times if it arrived as a dozen 1,400-byte chunks.
   */
  private batch: Buffer[] = []
  private batchBytes = 0
  private batchScheduled = false
  private endAfterBatch = false

  constructor(readonly remote: UdpAddress) {
    // Half-close as in uTP itself: the peer's FIN ends our readable side only; the connection closes
    // once both sides have sent their FIN and had it acknowledged.
    super({ readableHighWaterMark: 256 * 1024, writableHighWaterMark: 64 * 1024 })
    this.remoteAddress = remote.address
    this.remotePort = remote.port
  }

  /** The callbacks the connection reports through; the endpoint wraps them with its timer and socket. */
  streamHost(): UtpSink {
    return {
      onAbort: () => this.destroy(),
      onConnect: () => this.emit('connect'),
      onData: (chunk) => {
        // Payloads from a real socket are views of Node's receive Buffer already.
        this.batch.push(
          chunk instanceof Buffer ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
        )
        this.batchBytes += chunk.byteLength
        if (!this.batchScheduled) {
          this.batchScheduled = true
          setImmediate(this.pushBatch)
        }
      },
      onEnd: () => this.endReadable(),
      onDrain: () => {
        const cb = this.pendingWrite
        this.pendingWrite = undefined
        cb?.()
      },
      onFinish: () => {
        const cb = this.pendingFinal
        this.pendingFinal = undefined
        cb?.()
      },
      onClose: (error?: TransportError) => {
        if (error) this.destroy(error)
        else if (!this.destroyed) this.endReadable()
      },
      readBacklog: () => this.readableLength + this.batchBytes,
    }
  }

  /** Ends the readable side after any batch still to be pushed. */
  private endReadable(): void {
    if (this.batchScheduled) this.endAfterBatch = true
    else if (!this.readableEnded) this.push(null)
  }

  private readonly pushBatch = (): void => {
    this.batchScheduled = false
    const chunks = this.batch
    const bytes = this.batchBytes
    this.batch = []
    this.batchBytes = 0
    if (this.destroyed) return
    if (bytes > 0) this.push(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes))
    if (this.endAfterBatch && !this.readableEnded) this.push(null)
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    try {
      if (this.connection.write(chunk)) callback()
      else this.pendingWrite = callback
    } catch (err) {
      callback(err as Error)
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.connection.state === 'closed') {
      callback()
      return
    }
    this.pendingFinal = callback
    this.connection.end()
  }

  override _read(): void {
    this.connection.onRead()
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.connection.destroy()
    callback(err)
  }
}
