/**
 * Which blocks to request from which peer: partial pieces first, then rarest first, then end game.
 * Pure state: the engine feeds it bitfields, HAVEs, arrivals and drops, and asks for requests.
 */
import type { Random } from '../clock.js'
import { ProtocolError } from '../errors.js'

export const BLOCK_BYTES = 16 * 1024

export interface BlockRequest {
  index: number
  begin: number
  length: number
}

export interface PiecePickerOptions {
  pieceCount: number
  pieceLength: number
  lastPieceLength: number
  random: Random
  /** Pieces we already have, BEP 3 bitfield (piece 0 = high bit of byte 0). */
  have?: Uint8Array
  /** While we have fewer than this many pieces, pick at random (to get something to trade fast). @default 4 */
  randomFirstPieces?: number
}

/** A piece with blocks requested or received but not yet verified. */
interface PartialPiece {
  blocks: number
  received: Uint8Array
  receivedCount: number
  /** Peers with an outstanding request per block; undefined when nobody asked. */
  requesters: (Set<string> | undefined)[]
  /** Blocks neither received nor requested. */
  free: number
  /** Peers that delivered blocks, named when the hash check fails. */
  contributors: Set<string>
}

/** Bad input that comes from a peer (bitfield, HAVE, block index): the engine drops that peer. */
const misbehaved = (message: string) => new ProtocolError('PROTOCOL_PEER_MISBEHAVED', message)
const illegal = (message: string) => new ProtocolError('PROTOCOL_ILLEGAL_TRANSITION', message)

export class PiecePicker {
  readonly #pieceCount: number
  readonly #pieceLength: number
  readonly #lastPieceLength: number
  readonly #blocksPerPiece: number
  readonly #random: Random
  readonly #randomFirst: number
  readonly #had: Uint8Array
  #haveCount = 0
  /** Availability from bitfields and HAVEs; have_all peers are counted once in #allCount. */
  readonly #avail: Uint32Array
  #allCount = 0
  /**
   * Every piece in one permutation: had pieces first, then the rest grouped by availability, so
   * rarest first is a walk from the front and an availability change is one swap at a bucket edge
   * (the libtorrent piece_picker layout). Shuffled once, so a bucket's order is a random tie-break.
   */
  readonly #order: Int32Array
  readonly #pos: Int32Array
  /** #bounds[a] = position where the availability-a bucket starts; #bounds[0] ends the had region. */
  readonly #bounds: number[] = [0]
  readonly #partial = new Map<number, PartialPiece>()
  /** Blocks of unverified pieces that are neither received nor requested; 0 means end game. */
  #freeBlocks = 0
  /** Outstanding requests per peer, keyed by index * blocksPerPiece + block. */
  readonly #requests = new Map<string, Map<number, BlockRequest>>()

  constructor(o: PiecePickerOptions) {
    const { pieceCount, pieceLength, lastPieceLength } = o
    if (!Number.isSafeInteger(pieceCount) || pieceCount < 0) throw illegal(`bad piece count ${pieceCount}`)
    if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0)
      throw illegal(`bad piece length ${pieceLength}`)
    if (
      pieceCount > 0 &&
      !(Number.isSafeInteger(lastPieceLength) && lastPieceLength > 0 && lastPieceLength <= pieceLength)
    )
      throw illegal(`bad last piece length ${lastPieceLength}`)
    this.#pieceCount = pieceCount
    this.#pieceLength = pieceLength
    this.#lastPieceLength = lastPieceLength
    this.#blocksPerPiece = Math.ceil(pieceLength / BLOCK_BYTES)
    this.#random = o.random
    this.#randomFirst = o.randomFirstPieces ?? 4
    this.#had = new Uint8Array(pieceCount)
    this.#avail = new Uint32Array(pieceCount)
    this.#order = new Int32Array(pieceCount)
    this.#pos = new Int32Array(pieceCount)
    for (let i = 0; i < pieceCount; i++) {
      const j = this.#random.int(i + 1)
      this.#order[i] = this.#order[j]!
      this.#order[j] = i
    }
    for (let i = 0; i < pieceCount; i++) this.#pos[this.#order[i]!] = i
    for (let i = 0; i < pieceCount; i++) this.#freeBlocks += this.#blocksOf(i)
    if (o.have) this.#eachBit(o.have, (i) => this.onPieceVerified(i))
  }

  addAvailability(bitfield: Uint8Array): void {
    this.#eachBit(bitfield, (i) => this.#inc(i))
  }

  removeAvailability(bitfield: Uint8Array): void {
    this.#eachBit(bitfield, (i) => this.#dec(i))
  }

  addHave(index: number): void {
    this.#check(index)
    this.#inc(index)
  }

  addAll(): void {
    this.#allCount++
  }

  removeAll(): void {
    if (this.#allCount > 0) this.#allCount--
  }

  availability(index: number): number {
    this.#check(index)
    return this.#avail[index]! + this.#allCount
  }

  get endgame(): boolean {
    return this.#freeBlocks === 0 && this.#haveCount < this.#pieceCount
  }

  get missing(): number {
    return this.#pieceCount - this.#haveCount
  }

  has(index: number): boolean {
    this.#check(index)
    return this.#had[index] === 1
  }

  requestsOf(peer: string): BlockRequest[] {
    return [...(this.#requests.get(peer)?.values() ?? [])].map((r) => ({ ...r }))
  }

  pick(peer: string, peerHas: (index: number) => boolean, max: number): BlockRequest[] {
    const out: BlockRequest[] = []
    if (max <= 0) return out
    if (!this.endgame) {
      // Finish what is started before starting more: whole pieces are what we can verify and trade.
      for (const [index, p] of this.#partial) {
        if (p.free === 0 || !peerHas(index)) continue
        this.#takeFree(peer, index, p, out, max)
        if (out.length >= max) return out
      }
      this.#pickNew(peer, peerHas, out, max)
    }
    if (out.length < max && this.endgame) this.#pickEndgame(peer, peerHas, out, max)
    return out
  }

  onBlock(peer: string, req: BlockRequest): { pieceComplete: boolean; alsoRequestedBy: string[] } {
    this.#check(req.index)
    const p = this.#partial.get(req.index)
    const b = this.#blockIndex(req)
    const requesters = p && b >= 0 ? p.requesters[b] : undefined
    if (!p || !requesters?.has(peer)) return { pieceComplete: false, alsoRequestedBy: [] }
    p.received[b] = 1
    p.receivedCount++
    p.contributors.add(peer)
    p.requesters[b] = undefined
    const key = this.#key(req.index, b)
    const alsoRequestedBy: string[] = []
    for (const r of requesters) {
      this.#forget(r, key)
      if (r !== peer) alsoRequestedBy.push(r)
    }
    return { pieceComplete: p.receivedCount === p.blocks, alsoRequestedBy }
  }

  onRequestDropped(peer: string, req: BlockRequest): void {
    this.#check(req.index)
    const b = this.#blockIndex(req)
    if (b >= 0) this.#drop(peer, req.index, b)
  }

  dropPeer(peer: string): void {
    const reqs = this.#requests.get(peer)
    if (!reqs) return
    for (const key of [...reqs.keys()]) {
      const index = Math.floor(key / this.#blocksPerPiece)
      this.#drop(peer, index, key - index * this.#blocksPerPiece)
    }
    this.#requests.delete(peer)
  }

  onPieceFailed(index: number): string[] {
    this.#check(index)
    const p = this.#partial.get(index)
    if (!p) return []
    const contributors = [...p.contributors]
    p.contributors.clear()
    for (let b = 0; b < p.blocks; b++) {
      if (p.received[b] === 0) continue
      p.received[b] = 0
      p.free++
      this.#freeBlocks++
    }
    p.receivedCount = 0
    if (p.free === p.blocks) this.#partial.delete(index)
    return contributors
  }

  onPieceVerified(index: number): void {
    this.#check(index)
    if (this.#had[index] === 1) return
    const p = this.#partial.get(index)
    if (p) {
      // Normally nothing is outstanding here; if the engine verified early, stale requests go too.
      for (let b = 0; b < p.blocks; b++) {
        const key = this.#key(index, b)
        for (const r of p.requesters[b] ?? []) this.#forget(r, key)
      }
      this.#freeBlocks -= p.free
      this.#partial.delete(index)
    } else {
      this.#freeBlocks -= this.#blocksOf(index)
    }
    this.#had[index] = 1
    this.#haveCount++
    // Walk the piece down through every lower bucket into the had region.
    for (let a = this.#avail[index]!; a >= 0; a--) {
      const first = this.#bounds[a]!
      this.#swap(this.#pos[index]!, first)
      this.#bounds[a] = first + 1
    }
  }

  /** Starts new pieces: random while we have almost nothing, else rarest first. */
  #pickNew(peer: string, peerHas: (index: number) => boolean, out: BlockRequest[], max: number): void {
    if (this.#haveCount < this.#randomFirst) {
      this.#scan(this.#bounds[0]!, this.#pieceCount, peer, peerHas, out, max)
      return
    }
    for (let a = 0; a < this.#bounds.length && out.length < max; a++)
      this.#scan(this.#bounds[a]!, this.#bucketEnd(a), peer, peerHas, out, max)
  }

  /** Starts pieces in order[start, end) from a random offset: the order is shuffled, so any run is a fair draw. */
  #scan(
    start: number,
    end: number,
    peer: string,
    peerHas: (index: number) => boolean,
    out: BlockRequest[],
    max: number,
  ): void {
    const size = end - start
    if (size <= 0) return
    const offset = this.#random.int(size)
    for (let k = 0; k < size && out.length < max; k++) {
      const index = this.#order[start + ((offset + k) % size)]!
      if (this.#partial.has(index) || !peerHas(index)) continue
      const blocks = this.#blocksOf(index)
      const p: PartialPiece = {
        blocks,
        received: new Uint8Array(blocks),
        receivedCount: 0,
        requesters: new Array(blocks).fill(undefined),
        free: blocks,
        contributors: new Set(),
      }
      this.#partial.set(index, p)
      this.#takeFree(peer, index, p, out, max)
    }
  }

  /** End game: duplicate other peers' outstanding blocks, least-duplicated first. */
  #pickEndgame(peer: string, peerHas: (index: number) => boolean, out: BlockRequest[], max: number): void {
    const candidates: { index: number; b: number; n: number }[] = []
    for (const [index, p] of this.#partial) {
      if (p.receivedCount === p.blocks || !peerHas(index)) continue
      for (let b = 0; b < p.blocks; b++) {
        const r = p.requesters[b]
        if (r && !r.has(peer)) candidates.push({ index, b, n: r.size })
      }
    }
    candidates.sort((x, y) => x.n - y.n)
    for (const c of candidates) {
      if (out.length >= max) break
      out.push(this.#request(peer, c.index, this.#partial.get(c.index)!, c.b))
    }
  }

  #takeFree(peer: string, index: number, p: PartialPiece, out: BlockRequest[], max: number): void {
    for (let b = 0; b < p.blocks && out.length < max; b++) {
      if (p.received[b] === 0 && p.requesters[b] === undefined) out.push(this.#request(peer, index, p, b))
    }
  }

  #request(peer: string, index: number, p: PartialPiece, b: number): BlockRequest {
    let r = p.requesters[b]
    if (!r) {
      r = new Set()
      p.requesters[b] = r
      p.free--
      this.#freeBlocks--
    }
    r.add(peer)
    const req = { index, begin: b * BLOCK_BYTES, length: this.#blockLength(index, b) }
    let reqs = this.#requests.get(peer)
    if (!reqs) {
      reqs = new Map()
      this.#requests.set(peer, reqs)
    }
    reqs.set(this.#key(index, b), req)
    return { ...req }
  }

  #drop(peer: string, index: number, b: number): void {
    const p = this.#partial.get(index)
    const r = p?.requesters[b]
    if (!p || !r?.delete(peer)) return
    this.#forget(peer, this.#key(index, b))
    if (r.size > 0) return
    p.requesters[b] = undefined
    if (p.received[b] === 1) return
    p.free++
    this.#freeBlocks++
    // Nothing asked and nothing received: no longer partial, back to competing on rarity.
    if (p.free === p.blocks) this.#partial.delete(index)
  }

  #forget(peer: string, key: number): void {
    const reqs = this.#requests.get(peer)
    if (!reqs) return
    reqs.delete(key)
    if (reqs.size === 0) this.#requests.delete(peer)
  }

  #inc(index: number): void {
    const a = this.#avail[index]!
    this.#avail[index] = a + 1
    if (this.#had[index] === 1) return
    if (this.#bounds.length === a + 1) this.#bounds.push(this.#pieceCount)
    const last = this.#bucketEnd(a) - 1
    this.#swap(this.#pos[index]!, last)
    this.#bounds[a + 1] = last
  }

  #dec(index: number): void {
    const a = this.#avail[index]!
    if (a === 0) return
    this.#avail[index] = a - 1
    if (this.#had[index] === 1) return
    const first = this.#bounds[a]!
    this.#swap(this.#pos[index]!, first)
    this.#bounds[a] = first + 1
  }

  #bucketEnd(a: number): number {
    return this.#bounds[a + 1] ?? this.#pieceCount
  }

  #swap(i: number, j: number): void {
    const x = this.#order[i]!
    const y = this.#order[j]!
    this.#order[i] = y
    this.#order[j] = x
    this.#pos[y] = i
    this.#pos[x] = j
  }

  #blocksOf(index: number): number {
    const len = index === this.#pieceCount - 1 ? this.#lastPieceLength : this.#pieceLength
    return Math.ceil(len / BLOCK_BYTES)
  }

  #blockLength(index: number, b: number): number {
    const len = index === this.#pieceCount - 1 ? this.#lastPieceLength : this.#pieceLength
    return Math.min(BLOCK_BYTES, len - b * BLOCK_BYTES)
  }

  /** The block a request names, or -1 if it is not exactly one of our blocks. */
  #blockIndex(req: BlockRequest): number {
    const b = req.begin / BLOCK_BYTES
    if (!Number.isInteger(b) || b < 0 || b >= this.#blocksOf(req.index)) return -1
    return req.length === this.#blockLength(req.index, b) ? b : -1
  }

  #key(index: number, b: number): number {
    return index * this.#blocksPerPiece + b
  }

  #check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#pieceCount)
      throw misbehaved(`piece index ${index} out of range 0..${this.#pieceCount - 1}`)
  }

  /** Calls `fn` for each set bit; a wrong length or set spare bits is a peer to drop (BEP 3). */
  #eachBit(bitfield: Uint8Array, fn: (index: number) => void): void {
    const n = this.#pieceCount
    if (bitfield.length !== Math.ceil(n / 8))
      throw misbehaved(`bitfield of ${bitfield.length} bytes for ${n} pieces`)
    const spare = n % 8
    if (spare !== 0 && (bitfield[bitfield.length - 1]! & (0xff >> spare)) !== 0)
      throw misbehaved('bitfield has spare bits set')
    for (let byte = 0; byte < bitfield.length; byte++) {
      const v = bitfield[byte]!
      if (v === 0) continue
      for (let bit = 0; bit < 8; bit++) if (v & (0x80 >> bit)) fn(byte * 8 + bit)
    }
  }
}
