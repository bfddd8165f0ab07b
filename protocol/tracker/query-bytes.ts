import { DecodeError } from '../errors.js'

const HEX = new Int8Array(128).fill(-1)
for (let i = 0; i < 10; i++) HEX[48 + i] = i
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i
  HEX[97 + i] = 10 + i
}

/**
 * Percent-decodes one query value into raw bytes, never through UTF-8: info hashes and peer ids are
 * arbitrary bytes (BEP 3), and a UTF-8 decode garbles every byte >= 0x80.
 */
export function percentDecodeBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length)
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x25) {
      const hi = i + 2 < s.length ? HEX[s.charCodeAt(i + 1) & 0x7f]! : -1
      const lo = i + 2 < s.length ? HEX[s.charCodeAt(i + 2) & 0x7f]! : -1
      if (hi < 0 || lo < 0 || s.charCodeAt(i + 1) > 0x7f || s.charCodeAt(i + 2) > 0x7f) {
        throw new DecodeError('DECODE_BAD_QUERY', 'bad percent-escape in query')
      }
      out[n++] = (hi << 4) | lo
      i += 2
    } else if (c === 0x2b) {
      out[n++] = 0x20
    } else if (c < 0x80) {
      out[n++] = c
    } else {
      throw new DecodeError('DECODE_BAD_QUERY', 'non-ASCII byte in query')
    }
  }
  return out.subarray(0, n)
}

/** Percent-encodes bytes for a query value (unreserved characters stay as they are). */
export function percentEncodeBytes(b: Uint8Array): string {
  let s = ''
  for (const c of b) {
    const unreserved =
      (c >= 0x30 && c <= 0x39) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      c === 0x2d ||
      c === 0x2e ||
      c === 0x5f ||
      c === 0x7e
    s += unreserved ? String.fromCharCode(c) : `%${c < 16 ? '0' : ''}${c.toString(16).toUpperCase()}`
  }
  return s
}

/**
 * Splits a raw query string (without `?`) into key → still-encoded values. Keys repeat for
 * multi-valued parameters (scrape's `info_hash`). At most `maxPairs` pairs are read.
 */
export function splitQuery(query: string, maxPairs = 256): Map<string, string[]> {
  const out = new Map<string, string[]>()
  let start = 0
  let pairs = 0
  while (start <= query.length) {
    let end = query.indexOf('&', start)
    if (end < 0) end = query.length
    if (end > start) {
      if (++pairs > maxPairs) throw new DecodeError('DECODE_OVERSIZED', 'too many query parameters')
      const eq = query.indexOf('=', start)
      const hasValue = eq >= 0 && eq < end
      const key = query.slice(start, hasValue ? eq : end)
      const value = hasValue ? query.slice(eq + 1, end) : ''
      const list = out.get(key)
      if (list) list.push(value)
      else out.set(key, [value])
    }
    start = end + 1
  }
  return out
}
