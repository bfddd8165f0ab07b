import { constants } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { BatchUdpIo, type UdpIoSink } from '../../../../client/udp-batch/batch-udp-io.js'
import {
  type NativeHandle,
  type NativeUdpBatch,
  nativeUdpBatch,
} from '../../../../client/udp-batch/native-udp-batch.js'
import { UdpSocket } from '../../../../client/udp-socket.js'
import type { UdpAddress } from '../../../../protocol/datagram-socket.js'
import { prerequisite } from '../../../helpers/require-tool.js'
import { until } from '../../../helpers/until.js'

const gate = prerequisite(
  'the batched UDP addon (built by npm install on Linux with python3, make and a C compiler)',
  nativeUdpBatch() !== null,
)

describe.skipIf(gate.skip)('the batched UDP addon', () => {
  const open: UdpSocket[] = []
  afterEach(() => {
    for (const s of open.splice(0)) s.close()
  })

  it('is used by default', async () => {
    const s = await UdpSocket.open({ host: '127.0.0.1' })
    open.push(s)
    expect(s.batched).toBe(true)
  })

  it('moves a burst of 2,000 datagrams in order, each keeping its own bytes and sender', async () => {
    const a = await UdpSocket.open({ host: '127.0.0.1' })
    const b = await UdpSocket.open({ host: '127.0.0.1' })
    open.push(a, b)
    const got: { bytes: Uint8Array; from: UdpAddress }[] = []
    b.on('message', (bytes, from) => got.push({ bytes, from }))
    const n = 2000
    // One synchronous loop: more datagrams than a batch holds, more bytes than its buffer.
    for (let i = 0; i < n; i++) {
      const d = Buffer.alloc(1000 + (i % 200), i & 255)
      d.writeUInt32BE(i, 0)
      a.send(d, { address: '127.0.0.1', port: b.address().port })
    }
    await until(() => got.length === n)
    for (let i = 0; i < n; i++) {
      const { bytes, from } = got[i]!
      expect(bytes.byteLength).toBe(1000 + (i % 200))
      expect(Buffer.from(bytes).readUInt32BE(0)).toBe(i)
      expect(bytes[bytes.byteLength - 1]).toBe(i & 255)
      expect(from).toEqual({ address: '127.0.0.1', port: a.address().port, family: 'IPv4' })
    }
  })

  it('delivers an empty datagram and the largest one UDP allows, whole', async () => {
    const a = await UdpSocket.open({ host: '127.0.0.1' })
    const b = await UdpSocket.open({ host: '127.0.0.1' })
    open.push(a, b)
    const got: Uint8Array[] = []
    b.on('message', (bytes) => got.push(bytes))
    const largest = Buffer.alloc(65_507)
    for (let i = 0; i < largest.length; i++) largest[i] = (i * 7) & 255
    a.send(new Uint8Array(0), { address: '127.0.0.1', port: b.address().port })
    a.send(largest, { address: '127.0.0.1', port: b.address().port })
    a.send(Buffer.from('after'), { address: '127.0.0.1', port: b.address().port })
    await until(() => got.length === 3)
    expect(got[0]!.byteLength).toBe(0)
    expect(Buffer.from(got[1]!).equals(largest)).toBe(true)
    expect(Buffer.from(got[2]!).toString()).toBe('after')
  })

  it('serves 128 sockets at once (birthday probing opens as many), each its own datagrams', async () => {
    const sender = await UdpSocket.open({ host: '127.0.0.1' })
    open.push(sender)
    const sockets = await Promise.all(
      Array.from({ length: 128 }, () => UdpSocket.open({ host: '127.0.0.1' })),
    )
    open.push(...sockets)
    const got = sockets.map(() => [] as number[])
    sockets.forEach((s, i) => s.on('message', (bytes) => got[i]!.push(bytes[0]!)))
    for (let round = 0; round < 2; round++)
      for (const [i, s] of sockets.entries())
        sender.send(Uint8Array.of(i + round), { address: '127.0.0.1', port: s.address().port })
    await until(() => got.every((g) => g.length === 2))
    expect(got).toEqual(sockets.map((_, i) => [i, i + 1]))
  })

  it('stops delivering a batch once a listener closes the socket', async () => {
    const a = await UdpSocket.open({ host: '127.0.0.1' })
    const b = await UdpSocket.open({ host: '127.0.0.1' })
    open.push(a)
    let seen = 0
    b.on('message', () => {
      seen++
      b.close()
    })
    for (let i = 0; i < 50; i++) a.send(Buffer.from([i]), { address: '127.0.0.1', port: b.address().port })
    await until(() => seen > 0)
    await new Promise((r) => setTimeout(r, 50))
    expect(seen).toBe(1)
  })

  it('sends datagrams queued before a TTL change before applying it', async () => {
    const a = await UdpSocket.open({ host: '127.0.0.1' })
    const b = await UdpSocket.open({ host: '127.0.0.1' })
    open.push(a, b)
    const got: number[] = []
    b.on('message', (bytes) => got.push(bytes[0]!))
    a.setTTL(2)
    a.send(Buffer.from([1]), { address: '127.0.0.1', port: b.address().port })
    a.setTTL(64)
    a.send(Buffer.from([2]), { address: '127.0.0.1', port: b.address().port })
    await until(() => got.length === 2)
    expect(got).toEqual([1, 2])
  })
})

/**
 * A scripted stand-in for the addon's send side: the kernel's send buffer filling up (EAGAIN) cannot
 * be made to happen on loopback, where a datagram's memory is released as it is delivered.
 */
class ScriptedNative implements NativeUdpBatch {
  readonly slots = 64
  readonly sent: number[] = []
  sendCalls = 0
  meta: Int32Array = new Int32Array(0)
  deliver: (bytes: ArrayBuffer, index: number) => void = () => {}
  /** How many more datagrams the "kernel" takes before answering EAGAIN; Infinity: all. */
  room = Number.POSITIVE_INFINITY
  awaiting = false
  private onWritable: () => void = () => {}
  open(
    _host: string,
    _port: number,
    _r: number,
    _s: number,
    meta: Int32Array,
    onDatagram: (bytes: ArrayBuffer, index: number) => void,
    onWritable: () => void,
  ): NativeHandle {
    this.meta = meta
    this.deliver = onDatagram
    this.onWritable = onWritable
    return {} as NativeHandle
  }
  send(_h: NativeHandle, bytes: Uint8Array, meta: Int32Array, count: number): number {
    this.sendCalls++
    if (this.room === 0) return -constants.errno.EAGAIN
    const n = Math.min(count, this.room)
    for (let i = 0; i < n; i++) {
      const view = new DataView(bytes.buffer, bytes.byteOffset + meta[i * 4]!, meta[i * 4 + 1]!)
      this.sent.push(view.getUint32(0))
    }
    this.room -= n
    return n
  }
  awaitWritable(): void {
    this.awaiting = true
  }
  writable(room: number): void {
    this.room = room
    this.awaiting = false
    this.onWritable()
  }
  setTtl(): void {}
  info(): [number, number, number] {
    return [1, 0, 0]
  }
  close(): void {}
}

/** Has the scripted addon read `count` 4-byte datagrams (0, 1, ...) from 10.0.0.1:7 in one batch. */
function deliverBatch(native: ScriptedNative, count: number): void {
  const bytes = new ArrayBuffer(count * 4)
  for (let i = 0; i < count; i++) {
    new DataView(bytes).setUint32(i * 4, i)
    native.meta.set([i * 4, 4, 0x0a000001, 7], i * 4)
  }
  native.meta[native.slots * 4] = count
  for (let i = 0; i < count; i++) native.deliver(bytes, i)
}

describe('BatchUdpIo sends', () => {
  it('answers to a batch of datagrams leave in one sendmmsg after its last datagram', async () => {
    const native = new ScriptedNative()
    const seen: string[] = []
    const udp: BatchUdpIo = BatchUdpIo.open(
      native,
      {
        message: (bytes, from) => {
          seen.push(`${from.address}:${from.port}`)
          udp.send(bytes, from.port, from.address)
        },
        error: (err) => expect.fail(err.message),
      },
      { host: '127.0.0.1', port: 1, recvBufferSize: 0, sendBufferSize: 0 },
    )
    deliverBatch(native, 10)
    expect(seen).toEqual(Array(10).fill('10.0.0.1:7'))
    expect(native.sendCalls).toBe(1)
    expect(native.sent).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    // Outside a batch, what one turn sends leaves when its microtasks run.
    udp.send(Uint8Array.of(0, 0, 0, 42), 7, '10.0.0.1')
    udp.send(Uint8Array.of(0, 0, 0, 43), 7, '10.0.0.1')
    expect(native.sendCalls).toBe(1)
    await Promise.resolve()
    expect(native.sendCalls).toBe(2)
    expect(native.sent.slice(10)).toEqual([42, 43])
  })
})

describe('BatchUdpIo when the kernel cannot take more', () => {
  const sink: UdpIoSink = { message: () => {}, error: (err) => expect.fail(err.message) }
  const datagram = (i: number) => {
    const d = new Uint8Array(1200)
    new DataView(d.buffer).setUint32(0, i)
    return d
  }
  const settle = () => new Promise((r) => setImmediate(r))
  const io = (native: ScriptedNative) =>
    BatchUdpIo.open(native, sink, { host: '127.0.0.1', port: 1, recvBufferSize: 0, sendBufferSize: 0 })

  it('keeps what is refused, in order, and sends it when the socket is writable', async () => {
    const native = new ScriptedNative()
    native.room = 100
    const udp = io(native)
    for (let i = 0; i < 1000; i++) udp.send(datagram(i), 9, '127.0.0.1')
    await settle()
    expect(native.sent).toHaveLength(100)
    expect(native.awaiting).toBe(true)
    native.writable(300)
    await settle()
    expect(native.sent).toHaveLength(400)
    native.writable(Number.POSITIVE_INFINITY)
    await settle()
    expect(native.sent).toEqual(Array.from({ length: 1000 }, (_, i) => i))
  })

  it('drops datagrams past its bound while blocked, as a full queue would', async () => {
    const native = new ScriptedNative()
    native.room = 0
    const udp = io(native)
    for (let i = 0; i < 10_000; i++) udp.send(datagram(i), 9, '127.0.0.1')
    await settle()
    native.writable(Number.POSITIVE_INFINITY)
    await settle()
    // One batch in its buffer plus 4,096 waiting copies; the rest were dropped, the kept ones in order.
    expect(native.sent.length).toBeLessThan(10_000)
    expect(native.sent.length).toBeGreaterThanOrEqual(4096)
    expect(native.sent).toEqual([...native.sent].sort((x, y) => x - y))
  })
})
