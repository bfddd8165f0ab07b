/**
 * Hands out views of one larger buffer at a time, never reusing a byte: a bump allocator. A uTP
 * sender makes a packet buffer for every ~1,400 bytes it sends; allocating each on its own costs an
 * off-heap allocation and a collector-tracked buffer per packet (about 2.5 us against 0.1 us for a
 * view). A slab is freed by the collector once no view of it is left.
 */
export class ByteSlab {
  private slab = new Uint8Array(0)
  private used = 0

  constructor(private readonly slabBytes = 64 * 1024) {}

  /** A zeroed view of `size` bytes. Sizes above the slab size get a buffer of their own. */
  take(size: number): Uint8Array {
    if (size > this.slabBytes) return new Uint8Array(size)
    if (this.used + size > this.slab.length) {
      this.slab = new Uint8Array(this.slabBytes)
      this.used = 0
    }
    const view = this.slab.subarray(this.used, this.used + size)
    this.used += size
    return view
  }
}
