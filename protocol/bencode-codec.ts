import { DecodeError } from './errors.js'

/**
 * A strict bencode codec (BEP 3) for .torrent files, fast-resume data and tracker answers.
 * Strings stay bytes (`Uint8Array`): info dicts carry raw SHA-1s and file names in any encoding.
 * The decoder can report the raw byte span of one top-level key, so an info hash is taken over the
 * bytes as they were written, as libtorrent does, never over a re-encoding.
 */

/** A decoded bencode value. Dictionaries map keys (decoded as UTF-8) to values. */
export type BencodeValue = number | Uint8Array | BencodeValue[] | BencodeDict
/** A bencode dictionary with a null prototype (keys such as `__proto__` are plain data). */
export interface BencodeDict {
  [key: string]: BencodeValue
}

/** Deeper nesting than this is refused instead of risking the stack. */
export const BENCODE_MAX_DEPTH = 64

const TEXT_DECODER = new TextDecoder()
const TEXT_ENCODER = new TextEncoder()

/** Result of {@link decodeBencodeWithSpan}. */
export interface DecodedWithSpan {
  value: BencodeValue
  /** Raw bytes of the wanted top-level key's value, if the top level is a dict that has it. */
  span?: Uint8Array
}

/** Decodes exactly one bencoded value; trailing bytes are an error. Throws `DecodeError`. */
export function decodeBencode(bytes: Uint8Array): BencodeValue {
  return decodeBencodeWithSpan(bytes).value
}

/** Decodes like {@link decodeBencode} and also returns the raw bytes of top-level key `spanKey`. */
export function decodeBencodeWithSpan(bytes: Uint8Array, spanKey?: string): DecodedWithSpan {
  const d = new Decoder(bytes, spanKey)
  const value = d.value(0)
  if (d.pos !== bytes.length) throw new DecodeError('DECODE_BAD_BENCODE', `trailing bytes at offset ${d.pos}`)
  return d.span ? { value, span: d.span } : { value }
}

/**
 * The length of the one bencoded value `bytes` starts with (what follows it is not read). Throws
 * `DecodeError` unless that value is well formed: used to vet bytes before a looser decoder sees them.
 */
export function bencodePrefixLength(bytes: Uint8Array): number {
  const d = new Decoder(bytes)
  d.value(0)
  return d.pos
}

class Decoder {
  pos = 0
  span?: Uint8Array
  constructor(
    private readonly buf: Uint8Array,
    private readonly spanKey?: string,
  ) {}

  value(depth: number): BencodeValue {
    if (depth > BENCODE_MAX_DEPTH) throw new DecodeError('DECODE_OVERSIZED', 'bencode nested too deeply')
    const c = this.peek()
    if (c === 0x69 /* i */) return this.integer()
    if (c >= 0x30 && c <= 0x39) return this.string()
    if (c === 0x6c /* l */) {
      this.pos++
      const list: BencodeValue[] = []
      while (this.peek() !== 0x65 /* e */) list.push(this.value(depth + 1))
      this.pos++
      return list
    }
    if (c === 0x64 /* d */) {
      this.pos++
      const dict = Object.create(null) as BencodeDict
      while (this.peek() !== 0x65) {
        const key = TEXT_DECODER.decode(this.string())
        const start = this.pos
        dict[key] = this.value(depth + 1)
        if (depth === 0 && key === this.spanKey) this.span = this.buf.subarray(start, this.pos)
      }
      this.pos++
      return dict
    }
    throw new DecodeError('DECODE_BAD_BENCODE', `unexpected byte 0x${c.toString(16)} at offset ${this.pos}`)
  }

  private peek(): number {
    const c = this.buf[this.pos]
    if (c === undefined) throw new DecodeError('DECODE_TRUNCATED', 'bencode ends early')
    return c
  }

  private integer(): number {
    const end = this.buf.indexOf(0x65, this.pos)
    if (end < 0) throw new DecodeError('DECODE_TRUNCATED', 'bencode integer has no end')
    const text = TEXT_DECODER.decode(this.buf.subarray(this.pos + 1, end))
    // BEP 3: no leading zeros, no negative zero.
    if (!/^(0|-?[1-9][0-9]*)$/.test(text)) {
      throw new DecodeError('DECODE_BAD_BENCODE', `bad integer "${text.slice(0, 24)}" at offset ${this.pos}`)
    }
    const n = Number(text)
    if (!Number.isSafeInteger(n)) throw new DecodeError('DECODE_OVERSIZED', `integer ${text} is too large`)
    this.pos = end + 1
    return n
  }

  private string(): Uint8Array {
    const colon = this.buf.indexOf(0x3a, this.pos)
    if (colon < 0 || colon - this.pos > 16) throw new DecodeError('DECODE_BAD_BENCODE', 'bad string length')
    const text = TEXT_DECODER.decode(this.buf.subarray(this.pos, colon))
    if (!/^(0|[1-9][0-9]*)$/.test(text)) throw new DecodeError('DECODE_BAD_BENCODE', 'bad string length')
    const len = Number(text)
    const start = colon + 1
    if (start + len > this.buf.length) throw new DecodeError('DECODE_TRUNCATED', 'bencode string ends early')
    this.pos = start + len
    return this.buf.subarray(start, start + len)
  }
}

/** What {@link encodeBencode} accepts: decoded values plus text, booleans and absent dict entries. */
export type BencodeInput =
  | number
  | boolean
  | string
  | Uint8Array
  | BencodeInput[]
  | { [key: string]: BencodeInput | undefined }

/** Encodes a value; dictionary keys are written in sorted byte order (BEP 3). Strings become UTF-8. */
export function encodeBencode(value: BencodeInput): Uint8Array {
  const parts: Uint8Array[] = []
  write(value, parts)
  return Buffer.concat(parts)
}

function write(v: BencodeInput | undefined, out: Uint8Array[]): void {
  if (typeof v === 'string') v = TEXT_ENCODER.encode(v)
  if (typeof v === 'boolean') v = v ? 1 : 0
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new DecodeError('DECODE_BAD_VALUE', `cannot bencode ${v}`)
    out.push(TEXT_ENCODER.encode(`i${v}e`))
  } else if (v instanceof Uint8Array) {
    out.push(TEXT_ENCODER.encode(`${v.length}:`), v)
  } else if (Array.isArray(v)) {
    out.push(TEXT_ENCODER.encode('l'))
    for (const item of v) write(item, out)
    out.push(TEXT_ENCODER.encode('e'))
  } else if (v !== undefined && typeof v === 'object') {
    out.push(TEXT_ENCODER.encode('d'))
    const dict = v
    const keys = Object.keys(dict)
      .filter((k) => dict[k] !== undefined)
      .map((k) => ({ k, b: TEXT_ENCODER.encode(k) }))
      .sort((a, b) => Buffer.compare(a.b, b.b))
    for (const { k, b } of keys) {
      out.push(TEXT_ENCODER.encode(`${b.length}:`), b)
      write(dict[k], out)
    }
    out.push(TEXT_ENCODER.encode('e'))
  } else {
    throw new DecodeError('DECODE_BAD_VALUE', `cannot bencode ${typeof v}`)
  }
}

/** Reads a bencode string value as UTF-8 text, or undefined if `v` is not a string. */
export function bencodeText(v: BencodeValue | undefined): string | undefined {
  return v instanceof Uint8Array ? TEXT_DECODER.decode(v) : undefined
}

/** True for a bencode dictionary. */
export function isBencodeDict(v: BencodeValue | undefined): v is BencodeDict {
  return v !== undefined && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v)
}
