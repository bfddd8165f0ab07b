/**
 * The announce `key` (BEP 7: "an additional identification that is not shared with any other peers",
 * so a client can prove its identity should its address change) as one 32-bit number. Over UDP
 * (BEP 15) it is a u32 already; over HTTP libtorrent, Transmission and punchswarm send it as up to 8
 * hex digits of that same number, which are read as such so one client's HTTP and UDP announces
 * agree. Any other key text is hashed (FNV-1a) to 32 bits.
 */
export function announceKey(key: Uint8Array | undefined): number | undefined {
  if (key === undefined || key.length === 0) return undefined
  if (key.length <= 8 && key.every(isHexDigit))
    return Number.parseInt(Buffer.from(key).toString('latin1'), 16) >>> 0
  let h = 0x811c9dc5
  for (const b of key) h = Math.imul(h ^ b, 0x01000193)
  return h >>> 0
}

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
}
