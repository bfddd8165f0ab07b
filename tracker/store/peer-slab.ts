/**
 * Packed peer records for one swarm: a byte slab with fixed-size records and an open-addressing
 * index from peer id to slot. Plain objects in a Map cost well over 100 bytes a peer; this costs about
 * 50 (docs/tracker.md, Memory).
 *
 * One slab holds one address family, so IPv4 records are 36 bytes and IPv6 records 48:
 *   0       peer id (20)
 *   20      address (4 or 16)
 *   20+A    port (u16 BE)
 *   22+A    flags (u8): bit 0 seeder, bit 1 IPv6, bit 2 completed counted, bits 3-5 NAT class,
 *           bit 6 announced with a key
 *   23+A    unused
 *   24+A    last seen, seconds (u32 LE)
 *   28+A    the announce key (BEP 7) as a u32 (LE), when bit 6 is set
 */
const OFF_ADDR = 20

export const FLAG_SEEDER = 1
export const FLAG_V6 = 2
export const FLAG_COMPLETED = 4
export const FLAG_KEYED = 64
const NAT_SHIFT = 3
const NAT_MASK = 0b111 << NAT_SHIFT

const EMPTY = 0

/** FNV-1a over the 20 peer-id bytes at `off`. */
function hashId(b: Uint8Array, off: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < 20; i++) h = Math.imul(h ^ b[off + i]!, 0x01000193)
  return h >>> 0
}

export class PeerSlab {
  /** Records; grows by 1.25x so the slack stays small. */
  bytes: Uint8Array
  count = 0
  readonly recordBytes: number
  private readonly offPort: number
  private readonly offFlags: number
  private readonly offSeen: number
  private readonly offKey: number
  /** Slot + 1 per index cell, 0 = empty; linear probing; size a power of two. */
  private index: Int32Array
  private mask: number

  constructor(
    readonly addressBytes: 4 | 16,
    initialCapacity = 4,
  ) {
    this.recordBytes = 32 + addressBytes
    this.offPort = OFF_ADDR + addressBytes
    this.offFlags = this.offPort + 2
    this.offSeen = this.offPort + 4
    this.offKey = this.offPort + 8
    this.bytes = new Uint8Array(initialCapacity * this.recordBytes)
    const size = 8
    this.index = new Int32Array(size)
    this.mask = size - 1
  }

  get capacity(): number {
    return this.bytes.length / this.recordBytes
  }

  /** Bytes this slab holds (for memory accounting). */
  get footprint(): number {
    return this.bytes.byteLength + this.index.byteLength
  }

  /** The slot of `peerId`, or -1. */
  find(peerId: Uint8Array): number {
    let i = hashId(peerId, 0) & this.mask
    for (;;) {
      const v = this.index[i]!
      if (v === EMPTY) return -1
      const off = (v - 1) * this.recordBytes
      if (this.idEquals(off, peerId)) return v - 1
      i = (i + 1) & this.mask
    }
  }

  /** Appends a record for `peerId` and indexes it; returns its slot. The caller fills the fields. */
  add(peerId: Uint8Array): number {
    if (this.count === this.capacity) this.growSlab()
    if ((this.count + 1) * 4 > this.index.length * 3) this.growIndex()
    const slot = this.count++
    this.bytes.set(peerId, slot * this.recordBytes)
    this.indexInsert(slot)
    return slot
  }

  /** Removes `slot` by moving the last record into it (swap-remove). */
  remove(slot: number): void {
    this.indexDelete(slot)
    const last = this.count - 1
    if (slot !== last) {
      this.indexDelete(last)
      this.bytes.copyWithin(slot * this.recordBytes, last * this.recordBytes, (last + 1) * this.recordBytes)
      this.indexInsert(slot)
    }
    this.count--
    // Shrink when mostly empty, so an emptied swarm gives its memory back.
    if (this.capacity > 16 && this.count * 4 < this.capacity) this.shrink()
  }

  /** `ip` must have this slab's address length. */
  setEndpoint(slot: number, ip: Uint8Array, port: number): void {
    const off = slot * this.recordBytes
    this.bytes.set(ip, off + OFF_ADDR)
    this.bytes[off + this.offPort] = port >> 8
    this.bytes[off + this.offPort + 1] = port & 0xff
    const f = this.bytes[off + this.offFlags]!
    this.bytes[off + this.offFlags] = this.addressBytes === 16 ? f | FLAG_V6 : f & ~FLAG_V6
  }

  flags(slot: number): number {
    return this.bytes[slot * this.recordBytes + this.offFlags]!
  }

  setFlags(slot: number, flags: number): void {
    this.bytes[slot * this.recordBytes + this.offFlags] = flags
  }

  natCode(slot: number): number {
    return (this.flags(slot) & NAT_MASK) >> NAT_SHIFT
  }

  setNatCode(slot: number, code: number): void {
    this.setFlags(slot, (this.flags(slot) & ~NAT_MASK) | ((code << NAT_SHIFT) & NAT_MASK))
  }

  lastSeen(slot: number): number {
    return this.readU32(slot * this.recordBytes + this.offSeen)
  }

  setLastSeen(slot: number, seconds: number): void {
    this.writeU32(slot * this.recordBytes + this.offSeen, seconds)
  }

  /** The key the peer announced with, or undefined if it sent none. */
  key(slot: number): number | undefined {
    if (!(this.flags(slot) & FLAG_KEYED)) return undefined
    return this.readU32(slot * this.recordBytes + this.offKey)
  }

  setKey(slot: number, key: number | undefined): void {
    const flags = this.flags(slot)
    if (key === undefined) {
      this.setFlags(slot, flags & ~FLAG_KEYED)
      return
    }
    this.writeU32(slot * this.recordBytes + this.offKey, key)
    this.setFlags(slot, flags | FLAG_KEYED)
  }

  /** Whether `slot` holds address `ip` (of this slab's length), compared in place. */
  hasAddress(slot: number, ip: Uint8Array): boolean {
    const off = slot * this.recordBytes + OFF_ADDR
    for (let i = 0; i < this.addressBytes; i++) if (this.bytes[off + i] !== ip[i]) return false
    return true
  }

  /** Writes the compact form (4 or 16 address bytes + port) of `slot` into `out` at `pos`. */
  writeCompact(slot: number, out: Uint8Array, pos: number): number {
    const off = slot * this.recordBytes
    const n = this.addressBytes
    const b = this.bytes
    // A plain loop: cheaper than set(subarray()) for 6 or 18 bytes, with no allocation.
    for (let i = 0; i < n + 2; i++) out[pos + i] = b[off + OFF_ADDR + i]!
    return pos + n + 2
  }

  peerId(slot: number): Uint8Array {
    const off = slot * this.recordBytes
    return this.bytes.slice(off, off + 20)
  }

  address(slot: number): Uint8Array {
    const off = slot * this.recordBytes + OFF_ADDR
    return this.bytes.slice(off, off + this.addressBytes)
  }

  port(slot: number): number {
    const off = slot * this.recordBytes + this.offPort
    return (this.bytes[off]! << 8) | this.bytes[off + 1]!
  }

  /** Little-endian u32 at byte `o` of the records. */
  private readU32(o: number): number {
    const b = this.bytes
    return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
  }

  private writeU32(o: number, v: number): void {
    const b = this.bytes
    b[o] = v & 0xff
    b[o + 1] = (v >>> 8) & 0xff
    b[o + 2] = (v >>> 16) & 0xff
    b[o + 3] = (v >>> 24) & 0xff
  }

  private idEquals(off: number, id: Uint8Array): boolean {
    const b = this.bytes
    for (let i = 0; i < 20; i++) if (b[off + i] !== id[i]) return false
    return true
  }

  private indexInsert(slot: number): void {
    let i = hashId(this.bytes, slot * this.recordBytes) & this.mask
    while (this.index[i] !== EMPTY) i = (i + 1) & this.mask
    this.index[i] = slot + 1
  }

  /** Linear-probing delete with backward shift, so lookups never need tombstones. */
  private indexDelete(slot: number): void {
    let i = hashId(this.bytes, slot * this.recordBytes) & this.mask
    while (this.index[i] !== slot + 1) i = (i + 1) & this.mask
    let j = i
    for (;;) {
      j = (j + 1) & this.mask
      const v = this.index[j]!
      if (v === EMPTY) break
      const home = hashId(this.bytes, (v - 1) * this.recordBytes) & this.mask
      // Move v back into the hole at i unless its home lies cyclically in (i, j].
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j
      if (!inRange) {
        this.index[i] = v
        i = j
      }
    }
    this.index[i] = EMPTY
  }

  private growSlab(): void {
    const cap = Math.max(this.capacity + 4, Math.ceil(this.capacity * 1.25))
    const next = new Uint8Array(cap * this.recordBytes)
    next.set(this.bytes.subarray(0, this.count * this.recordBytes))
    this.bytes = next
  }

  private shrink(): void {
    const cap = Math.max(8, this.count * 2)
    const next = new Uint8Array(cap * this.recordBytes)
    next.set(this.bytes.subarray(0, this.count * this.recordBytes))
    this.bytes = next
    let size = 8
    while (size * 3 < this.count * 4 * 2) size *= 2
    this.rebuildIndex(size)
  }

  private growIndex(): void {
    this.rebuildIndex(this.index.length * 2)
  }

  private rebuildIndex(size: number): void {
    this.index = new Int32Array(size)
    this.mask = size - 1
    for (let s = 0; s < this.count; s++) this.indexInsert(s)
  }
}
