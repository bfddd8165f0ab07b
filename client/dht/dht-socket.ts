import { EventEmitter } from 'node:events'
import { bencodePrefixLength } from '../../protocol/bencode-codec.js'
import type { DatagramSocket, UdpAddress } from '../../protocol/datagram-socket.js'
import { classifyClientDatagram } from '../../protocol/udp-framing.js'
import { DHT_MAX_DATAGRAM_BYTES } from './reply-bounds.js'

/**
 * The client's shared UDP socket as k-rpc-socket (under bittorrent-dht) expects a node:dgram socket:
 * only DHT datagrams (bencoded, first byte 'd') reach it, its sends go out through the shared socket,
 * and closing it detaches without closing what uTP and the rendezvous still use. The DHT then answers
 * from the same port as uTP, as libtorrent's does, and through the same NAT mapping.
 */
export class DhtSocket extends EventEmitter {
  private attached = true

  constructor(
    private readonly socket: DatagramSocket,
    private readonly onFailure: (err: Error) => void,
  ) {
    super()
    socket.on('message', this.onMessage)
    // bittorrent-dht starts its bucket refresh on 'listening'; the shared socket is bound already.
    process.nextTick(() => {
      if (this.attached) this.emit('listening')
    })
  }

  private readonly onMessage = (bytes: Uint8Array, from: UdpAddress): void => {
    if (classifyClientDatagram(bytes) !== 'dht') return
    // k-rpc-socket's `bencode` loops forever on a negative string length (`d1:a-3:xe`): one datagram
    // would hang the client. Only well-formed bencode, on which it terminates, reaches it.
    try {
      bencodePrefixLength(bytes)
    } catch {
      return
    }
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    try {
      // The listener runs inside the shared socket's dispatch: a throw here must not reach uTP's.
      this.emit('message', buf, {
        address: from.address,
        port: from.port,
        family: from.family ?? 'IPv4',
        size: bytes.byteLength,
      })
    } catch (err) {
      // A hostile query can reach paths the library never tested.
      this.onFailure(err as Error)
    }
  }

  send(
    buf: Uint8Array,
    offset: number,
    length: number,
    port: number,
    address: string,
    cb?: (err: Error | null) => void,
  ): void {
    // A backstop for reply-bounds.ts: nothing the DHT sends may be large enough to amplify.
    if (this.attached && length <= DHT_MAX_DATAGRAM_BYTES) {
      this.socket.send(buf.subarray(offset, offset + length), { address, port })
    }
    if (cb) process.nextTick(cb, null)
  }

  address(): { address: string; port: number; family: string } {
    const a = this.socket.address()
    return { address: a.address, port: a.port, family: a.family ?? 'IPv4' }
  }

  /** The shared socket is bound by its owner. */
  bind(): void {}

  close(): void {
    if (!this.attached) return
    this.attached = false
    this.socket.off('message', this.onMessage)
    process.nextTick(() => this.emit('close'))
  }
}
