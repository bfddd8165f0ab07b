import { lookup } from 'node:dns'
import { isIPv4 } from 'node:net'
import { constants } from 'node:os'
import type { UdpAddress } from '../../protocol/datagram-socket.js'
import type { NativeHandle, NativeUdpBatch } from './native-udp-batch.js'

/** What a UDP backend reports to UdpSocket. */
export interface UdpIoSink {
  message(bytes: Uint8Array, from: UdpAddress): void
  error(err: Error): void
}

/** Bytes of datagrams waiting for one sendmmsg; a datagram that does not fit flushes first. */
const OUT_BYTES = 256 * 1024
/** Datagrams kept while the kernel's send buffer is full; more are dropped, as a full queue would. */
const MAX_WAITING = 4096
/** Entries kept in each address cache before it starts over: a flood of spoofed sources stays bounded. */
const ADDRESS_CACHE_SIZE = 4096

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name]),
)
const EAGAIN = constants.errno.EAGAIN
const ENOBUFS = constants.errno.ENOBUFS

const ipNames = new Map<number, string>()
function ipName(ip: number): string {
  let name = ipNames.get(ip)
  if (name === undefined) {
    name = `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`
    if (ipNames.size >= ADDRESS_CACHE_SIZE) ipNames.clear()
    ipNames.set(ip, name)
  }
  return name
}

const ipNumbers = new Map<string, number>()
/** The IPv4 literal as a number, or undefined for anything else (names, IPv6). */
function ipNumber(address: string): number | undefined {
  let ip = ipNumbers.get(address)
  if (ip === undefined) {
    if (!isIPv4(address)) return undefined
    const [a, b, c, d] = address.split('.').map(Number) as [number, number, number, number]
    ip = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0
    if (ipNumbers.size >= ADDRESS_CACHE_SIZE) ipNumbers.clear()
    ipNumbers.set(address, ip)
  }
  return ip
}

/**
 * An IPv4 UDP socket on the batched addon. Datagrams are read a batch per system call and handed on
 * one callback each, as node:dgram does. Sends made in one turn of the event loop leave in one
 * sendmmsg when the turn's microtasks run, those made while a read batch is handed on after its
 * last datagram. Datagrams the kernel cannot take yet (a full send buffer) wait, in order, for the
 * socket to become writable.
 */
export class BatchUdpIo {
  private readonly handle: NativeHandle
  private readonly inMeta: Int32Array
  private readonly out = new Uint8Array(OUT_BYTES)
  /** [offset, length, ip, port] per queued datagram. */
  private readonly outMeta: Int32Array
  private queued = 0
  /** Queued datagrams before this index have been sent (the rest wait for a writable socket). */
  private sentUpTo = 0
  private outBytes = 0
  private flushScheduled = false
  /** Inside a batch of datagrams, before its last: sends wait for the batch's end. */
  private delivering = false
  private blocked = false
  /** Datagrams sent while the batch was full and the socket blocked, in order. */
  private readonly waiting: { bytes: Uint8Array; ip: number; port: number }[] = []
  private closed = false

  private constructor(
    private readonly native: NativeUdpBatch,
    private readonly sink: UdpIoSink,
    /** An IPv4 literal, so the address bound is the address asked for. */
    private readonly host: string,
    port: number,
    recvBufferBytes: number,
    sendBufferBytes: number,
  ) {
    this.inMeta = new Int32Array(native.slots * 4 + 1)
    this.outMeta = new Int32Array(native.slots * 4)
    this.handle = native.open(
      host,
      port,
      recvBufferBytes,
      sendBufferBytes,
      this.inMeta,
      this.onDatagram,
      this.onWritable,
    )
  }

  /** Binds; throws (an Error naming the system call) if the address is taken or not IPv4. */
  static open(
    native: NativeUdpBatch,
    sink: UdpIoSink,
    options: { host: string; port: number; recvBufferSize: number; sendBufferSize: number },
  ): BatchUdpIo {
    return new BatchUdpIo(
      native,
      sink,
      options.host,
      options.port,
      options.recvBufferSize,
      options.sendBufferSize,
    )
  }

  private readonly onDatagram = (bytes: ArrayBuffer, index: number): void => {
    if (this.closed) return
    const m = index * 4
    const meta = this.inMeta
    const last = index === meta[this.native.slots * 4]! - 1
    // What the datagrams of one batch send (a tracker's answers) leaves in one sendmmsg after the
    // last of them, not one per datagram as a flush per turn would make it.
    this.delivering = !last
    try {
      // A Buffer, as dgram hands on: the DHT library calls Buffer methods on what it receives.
      this.sink.message(Buffer.from(bytes, meta[m]!, meta[m + 1]!), {
        address: ipName(meta[m + 2]! >>> 0),
        port: meta[m + 3]!,
        family: 'IPv4',
      })
    } finally {
      if (last) this.flush()
    }
  }

  private readonly onWritable = (): void => {
    this.blocked = false
    this.flush()
  }

  send(bytes: Uint8Array, port: number, address: string): void {
    if (this.closed) return
    const ip = ipNumber(address)
    if (ip !== undefined) {
      this.enqueue(bytes, ip, port)
      return
    }
    if (address.includes(':')) {
      const err = new Error(`send EAFNOSUPPORT ${address}: an IPv6 address on an IPv4 socket`)
      this.sink.error(Object.assign(err, { code: 'EAFNOSUPPORT' }))
      return
    }
    // A name (DHT bootstrap routers): resolved as dgram would, then queued; the bytes are copied
    // since the caller may reuse them once this returns.
    const copy = Uint8Array.from(bytes)
    lookup(address, { family: 4 }, (err, resolved) => {
      if (this.closed) return
      if (err) this.sink.error(err)
      else this.enqueue(copy, ipNumber(resolved)!, port)
    })
  }

  private fits(length: number): boolean {
    return this.queued < this.native.slots && this.outBytes + length <= OUT_BYTES
  }

  private enqueue(bytes: Uint8Array, ip: number, port: number): void {
    if (this.waiting.length > 0 || !this.fits(bytes.byteLength)) {
      this.flush()
      if (this.waiting.length > 0 || !this.fits(bytes.byteLength)) {
        // The socket is blocked with a full batch: keep a copy, in order, bounded.
        if (this.waiting.length < MAX_WAITING) this.waiting.push({ bytes: Uint8Array.from(bytes), ip, port })
        return
      }
    }
    this.append(bytes, ip, port)
    if (!this.flushScheduled && !this.delivering) {
      this.flushScheduled = true
      queueMicrotask(this.flushNow)
    }
  }

  private append(bytes: Uint8Array, ip: number, port: number): void {
    const m = this.queued * 4
    this.outMeta[m] = this.outBytes
    this.outMeta[m + 1] = bytes.byteLength
    this.outMeta[m + 2] = ip | 0
    this.outMeta[m + 3] = port
    this.out.set(bytes, this.outBytes)
    this.outBytes += bytes.byteLength
    this.queued++
  }

  private readonly flushNow = (): void => {
    this.flushScheduled = false
    this.flush()
  }

  /** Sends what is queued, unless the kernel's send buffer is full (then on writable). */
  flush(): void {
    while (!this.closed && !this.blocked && this.sentUpTo < this.queued) {
      const result = this.native.send(
        this.handle,
        this.out,
        this.outMeta.subarray(this.sentUpTo * 4),
        this.queued - this.sentUpTo,
      )
      if (result > 0) {
        this.sentUpTo += result
      } else if (-result === EAGAIN || -result === ENOBUFS) {
        this.blocked = true
        this.native.awaitWritable(this.handle)
      } else {
        // This datagram cannot be sent (unreachable, refused by a firewall rule): drop it, say so.
        const m = this.sentUpTo * 4
        const to = `${ipName(this.outMeta[m + 2]! >>> 0)}:${this.outMeta[m + 3]}`
        const code = errnoNames.get(-result) ?? `errno ${-result}`
        this.sentUpTo++
        this.sink.error(Object.assign(new Error(`send ${code} ${to}`), { code }))
      }
      if (this.sentUpTo === this.queued) {
        this.queued = 0
        this.sentUpTo = 0
        this.outBytes = 0
        // Datagrams that waited for room go next, in the order they were sent.
        while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes.byteLength)) {
          const w = this.waiting.shift()!
          this.append(w.bytes, w.ip, w.port)
        }
      }
    }
  }

  address(): UdpAddress {
    const [port] = this.native.info(this.handle)
    return { address: this.host, port, family: 'IPv4' }
  }

  setTTL(ttl: number): void {
    if (this.closed) return
    // Datagrams sent before the change leave with the TTL they were sent under (punch probes).
    this.flush()
    this.native.setTtl(this.handle, ttl)
  }

  bufferSizes(): { recv: number; send: number } {
    const [, recv, send] = this.native.info(this.handle)
    return { recv, send }
  }

  close(): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    this.waiting.length = 0
    this.native.close(this.handle)
  }
}
