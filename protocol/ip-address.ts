import { isIPv4, isIPv6 } from 'node:net'
import { DecodeError } from './errors.js'

/** IPv4 dotted or IPv6 text → 4 or 16 bytes. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes 4 bytes. */
export function ipToBytes(ip: string): Uint8Array {
  const fast = parseDottedQuad(ip)
  if (fast) return fast
  const mapped = ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip
  if (isIPv4(mapped)) return Uint8Array.from(mapped.split('.').map(Number))
  if (!isIPv6(ip)) throw new DecodeError('DECODE_BAD_VALUE', `not an IP address: ${ip.slice(0, 64)}`)
  const out = new Uint8Array(16)
  let text = ip
  const v4tail = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (v4tail) {
    const b = v4tail[1]!.split('.').map(Number)
    text = `${text.slice(0, v4tail.index)}:${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16)
    out[i * 2] = v >> 8
    out[i * 2 + 1] = v & 0xff
  })
  return out
}

/** 4 or 16 bytes → IPv4 dotted or compressed IPv6 text. */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`
  if (b.length !== 16) throw new DecodeError('DECODE_BAD_VALUE', `address of ${b.length} bytes`)
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!)
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      best = i
      bestLen = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best < 0) return hex.join(':')
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`
}

/** The family of an IP text, after unmapping IPv4-mapped IPv6. */
export function ipFamily(ip: string): 'IPv4' | 'IPv6' {
  return ipToBytes(ip).length === 4 ? 'IPv4' : 'IPv6'
}

/** The common case, parsed by hand: it is on the tracker's hot path. Undefined if not a plain dotted quad. */
function parseDottedQuad(ip: string): Uint8Array | undefined {
  if (ip.length < 7 || ip.length > 15) return undefined
  const out = new Uint8Array(4)
  let part = 0
  let value = 0
  let digits = 0
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i)
    if (c === 0x2e) {
      if (digits === 0 || part === 3) return undefined
      out[part++] = value
      value = 0
      digits = 0
    } else if (c >= 0x30 && c <= 0x39) {
      // No leading zeros ("01"), as node:net's isIPv4 refuses them too.
      if (digits > 0 && value === 0) return undefined
      value = value * 10 + (c - 0x30)
      if (++digits > 3 || value > 255) return undefined
    } else {
      return undefined
    }
  }
  if (part !== 3 || digits === 0) return undefined
  out[3] = value
  return out
}
