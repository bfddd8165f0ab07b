import { DecodeError } from '../errors.js'

/** Reads big-endian fields from a datagram; every read checks bounds and throws DecodeError. */
export class ByteReader {
  private pos: number
  constructor(
    private readonly b: Uint8Array,
    start = 0,
  ) {
    this.pos = start
  }

  get offset(): number {
    return this.pos
  }

  remaining(): number {
    return this.b.length - this.pos
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.b.length) throw new DecodeError('DECODE_TRUNCATED', `truncated ${what}`)
  }

  u8(what = 'u8'): number {
    this.need(1, what)
    return this.b[this.pos++]!
  }

  u16(what = 'u16'): number {
    this.need(2, what)
    const v = (this.b[this.pos]! << 8) | this.b[this.pos + 1]!
    this.pos += 2
    return v
  }

  u32(what = 'u32'): number {
    this.need(4, what)
    const b = this.b
    const p = this.pos
    this.pos += 4
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0
  }

  bytes(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what)
    const out = this.b.slice(this.pos, this.pos + n)
    this.pos += n
    return out
  }
}

/** Appends big-endian fields into a growing buffer. */
export class ByteWriter {
  private buf: Uint8Array
  private pos = 0
  constructor(capacity = 128) {
    this.buf = new Uint8Array(capacity)
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n))
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  u8(v: number): this {
    this.room(1)
    this.buf[this.pos++] = v & 0xff
    return this
  }

  u16(v: number): this {
    this.room(2)
    this.buf[this.pos++] = (v >>> 8) & 0xff
    this.buf[this.pos++] = v & 0xff
    return this
  }

  u32(v: number): this {
    this.room(4)
    this.buf[this.pos++] = (v >>> 24) & 0xff
    this.buf[this.pos++] = (v >>> 16) & 0xff
    this.buf[this.pos++] = (v >>> 8) & 0xff
    this.buf[this.pos++] = v & 0xff
    return this
  }

  bytes(b: Uint8Array): this {
    this.room(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
    return this
  }

  /** Zero bytes up to `total` bytes written (anti-amplification padding). */
  padTo(total: number): this {
    if (this.pos < total) {
      this.room(total - this.pos)
      this.buf.fill(0, this.pos, total)
      this.pos = total
    }
    return this
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos)
  }
}
