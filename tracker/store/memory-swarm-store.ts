import type { Random } from '../../protocol/clock.js'
import { TrackerError } from '../../protocol/errors.js'
import { ipToBytes } from '../../protocol/ip-address.js'
import { FLAG_COMPLETED, FLAG_SEEDER, PeerSlab } from './peer-slab.js'
import {
  NAT_CLASSES,
  type NatClass,
  type PeerSample,
  type StoreAnnounce,
  type StoreAnnounceResult,
  type StoreTotals,
  type SwarmCounts,
  type SwarmStore,
  type SwarmSummary,
} from './swarm-store.js'

export interface MemorySwarmStoreOptions {
  /** Most swarms kept; a new swarm beyond it evicts the least recently announced one. @default 1_000_000 */
  maxSwarms?: number
  /**
   * Most peers kept per swarm; a new peer beyond it evicts the longest-silent of a few peers picked
   * at random. @default 100_000
   */
  maxPeersPerSwarm?: number
}

interface Swarm {
  key: string
  v4: PeerSlab
  /** Created on the first IPv6 peer. */
  v6?: PeerSlab
  seeders: number
  downloaded: number
  /** Second of the last announce. */
  lastSecond: number
  /** Neighbours in the list of swarms by last announce (to the second): the oldest is evicted first. */
  older?: Swarm
  newer?: Swarm
}

/** Peers looked at to choose one to evict from a full swarm: the oldest of them goes. */
const EVICTION_SAMPLE = 8

const EMPTY_SAMPLE: PeerSample = { compact4: new Uint8Array(0), compact6: new Uint8Array(0) }
const peerCount = (s: Swarm) => s.v4.count + (s.v6?.count ?? 0)
// A view, not a copy: this runs on every announce.
const swarmKey = (infoHash: Uint8Array) =>
  Buffer.from(infoHash.buffer, infoHash.byteOffset, infoHash.length).toString('latin1')

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b]
  return a
}

/** Keeps swarms in process memory, packed per address family (tracker/store/peer-slab.ts). */
export class MemorySwarmStore implements SwarmStore {
  private readonly swarms = new Map<string, Swarm>()
  private peerTotal = 0
  private seederTotal = 0
  private downloadedTotal = 0
  private v6Total = 0
  private readonly natTotals = new Float64Array(NAT_CLASSES.length)
  private expireCursor: Iterator<Swarm> | undefined
  private expireSwarm: Swarm | undefined
  private expireSlot = -1
  private readonly maxSwarms: number
  private readonly maxPeersPerSwarm: number
  /** Ends of the list of swarms by last announce. A list, not Map order: finding a Map's first entry
   * skips every deleted slot before it, which a flood of evictions makes slow. */
  private oldest: Swarm | undefined
  private newest: Swarm | undefined
  /** Swarms and peers evicted to stay within the caps. */
  evictedSwarms = 0
  evictedPeers = 0

  constructor(
    private readonly deps: { random: Random },
    options: MemorySwarmStoreOptions = {},
  ) {
    this.maxSwarms = options.maxSwarms ?? 1_000_000
    this.maxPeersPerSwarm = options.maxPeersPerSwarm ?? 100_000
  }

  announce(req: StoreAnnounce, opts: { wantPeerIds?: boolean } = {}): StoreAnnounceResult {
    const key = swarmKey(req.infoHash)
    const second = Math.floor(req.now / 1000)
    let swarm = this.swarms.get(key)
    if (!swarm) {
      if (req.event === 'stopped') return { complete: 0, incomplete: 0, downloaded: 0, peers: EMPTY_SAMPLE }
      if (this.swarms.size >= this.maxSwarms) this.evictSwarm()
      swarm = {
        key,
        // Room for one peer: most swarms in a flood never get a second, and growth is cheap.
        v4: new PeerSlab(4, 1),
        seeders: 0,
        downloaded: 0,
        lastSecond: second,
      }
      this.swarms.set(key, swarm)
      this.linkNewest(swarm)
    } else if (swarm.lastSecond !== second) {
      // At most one move per swarm per second keeps the list in order of last announce.
      swarm.lastSecond = second
      this.unlink(swarm)
      this.linkNewest(swarm)
    }
    const ip = ipToBytes(req.ip)
    if (ip.length === 16) swarm.v6 ??= new PeerSlab(16)
    const slab = ip.length === 16 ? swarm.v6! : swarm.v4
    let slot = slab.find(req.peerId)
    let carried = 0
    let carriedKey: number | undefined
    let moved = false
    // Same address as the record holds: only then may the announce change the record's key.
    const sameAddress = slot >= 0 && slab.hasAddress(slot, ip)
    if (slot >= 0) checkOwner(slab, slot, req.key, sameAddress)
    if (slot < 0) {
      // The same peer id under the other family: move it, keeping its completion mark and key.
      const other = slab === swarm.v4 ? swarm.v6 : swarm.v4
      const old = other ? other.find(req.peerId) : -1
      if (other && old >= 0) {
        checkOwner(other, old, req.key, false)
        carried = other.flags(old) & FLAG_COMPLETED
        carriedKey = other.key(old)
        moved = true
        this.removeSlot(swarm, other, old)
      }
    }
    if (req.event === 'stopped') {
      if (slot >= 0) this.removeSlot(swarm, slab, slot)
      slot = -1
    } else {
      if (slot < 0) {
        if (peerCount(swarm) >= this.maxPeersPerSwarm) this.evictPeer(swarm)
        slot = slab.add(req.peerId)
        slab.setFlags(slot, carried)
        slab.setKey(slot, moved ? carriedKey : req.key)
        this.peerTotal++
        this.natTotals[0]!++
        if (slab === swarm.v6) this.v6Total++
      } else {
        if (slab.flags(slot) & FLAG_SEEDER) {
          swarm.seeders--
          this.seederTotal--
        }
        // From its own address a client may start (or stop) using a key; from another, an unkeyed
        // record follows the announce as before but takes no key from it.
        if (sameAddress) slab.setKey(slot, req.key)
      }
      if (slot >= 0) this.update(swarm, slab, slot, req, ip)
    }
    const self = slot >= 0 ? { slab, slot } : undefined
    const peers =
      req.numwant > 0 ? this.sample(swarm, self, req.numwant, opts.wantPeerIds === true) : EMPTY_SAMPLE
    const n = peerCount(swarm)
    const result = {
      complete: swarm.seeders,
      incomplete: n - swarm.seeders,
      downloaded: swarm.downloaded,
      peers,
    }
    if (n === 0) this.dropSwarm(swarm)
    return result
  }

  scrape(infoHash: Uint8Array): SwarmCounts {
    const swarm = this.swarms.get(swarmKey(infoHash))
    if (!swarm) return { complete: 0, incomplete: 0, downloaded: 0 }
    return {
      complete: swarm.seeders,
      incomplete: peerCount(swarm) - swarm.seeders,
      downloaded: swarm.downloaded,
    }
  }

  setNatClass(infoHash: Uint8Array, peerId: Uint8Array, natClass: NatClass): boolean {
    const swarm = this.swarms.get(swarmKey(infoHash))
    for (const slab of swarm ? [swarm.v4, swarm.v6] : []) {
      const slot = slab ? slab.find(peerId) : -1
      if (slab && slot >= 0) {
        this.natTotals[slab.natCode(slot)]!--
        slab.setNatCode(slot, NAT_CLASSES.indexOf(natClass))
        this.natTotals[slab.natCode(slot)]!++
        return true
      }
    }
    return false
  }

  expire(now: number, maxAgeMs: number, budget: number): number {
    const cutoff = Math.floor((now - maxAgeMs) / 1000)
    let dropped = 0
    let visited = 0
    let wrapped = false
    while (visited < budget && this.swarms.size > 0) {
      if (!this.expireSwarm) {
        this.expireCursor ??= this.swarms.values()
        const next = this.expireCursor.next()
        if (next.done) {
          this.expireCursor = undefined
          // At most one wrap per call; the next call starts a fresh pass.
          if (wrapped) break
          wrapped = true
          continue
        }
        this.expireSwarm = next.value
        this.expireSlot = peerCount(next.value) - 1
      }
      const swarm = this.expireSwarm
      // Walk slots downward: a swap-remove only moves the last record, which was already visited.
      while (this.expireSlot >= 0 && visited < budget) {
        const n4 = swarm.v4.count
        const slab = this.expireSlot < n4 ? swarm.v4 : swarm.v6
        const slot = this.expireSlot < n4 ? this.expireSlot : this.expireSlot - n4
        if (slab && slot < slab.count && slab.lastSeen(slot) < cutoff) {
          this.removeSlot(swarm, slab, slot)
          dropped++
        }
        this.expireSlot--
        visited++
      }
      if (this.expireSlot < 0) {
        this.expireSwarm = undefined
        if (peerCount(swarm) === 0) this.dropSwarm(swarm)
      }
    }
    return dropped
  }

  size(): { swarms: number; peers: number } {
    return { swarms: this.swarms.size, peers: this.peerTotal }
  }

  totals(): StoreTotals {
    return {
      swarms: this.swarms.size,
      peers: this.peerTotal,
      seeders: this.seederTotal,
      leechers: this.peerTotal - this.seederTotal,
      downloaded: this.downloadedTotal,
      peers4: this.peerTotal - this.v6Total,
      peers6: this.v6Total,
      byNatClass: Object.fromEntries(NAT_CLASSES.map((c, i) => [c, this.natTotals[i]!])) as Record<
        NatClass,
        number
      >,
    }
  }

  /** Bytes held in peer records and indexes (not counting per-swarm object overhead). */
  footprint(): number {
    let n = 0
    for (const s of this.swarms.values()) n += s.v4.footprint + (s.v6?.footprint ?? 0)
    return n
  }

  summaries(limit: number): SwarmSummary[] {
    // Keep the `limit` largest in a small buffer sorted largest first: one binary insertion per
    // swarm that makes it in, never a sort of every swarm.
    const top: Swarm[] = []
    for (const s of this.swarms.values()) {
      const n = peerCount(s)
      if (top.length >= limit && n <= peerCount(top[top.length - 1]!)) continue
      let lo = 0
      let hi = top.length
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if (peerCount(top[mid]!) >= n) lo = mid + 1
        else hi = mid
      }
      top.splice(lo, 0, s)
      if (top.length > limit) top.pop()
    }
    return top.map((s) => {
      const byNatClass = Object.fromEntries(NAT_CLASSES.map((c) => [c, 0])) as Record<NatClass, number>
      for (const slab of [s.v4, s.v6]) {
        for (let i = 0; slab && i < slab.count; i++) byNatClass[NAT_CLASSES[slab.natCode(i)] ?? 'unknown']++
      }
      return {
        infoHash: new Uint8Array(Buffer.from(s.key, 'latin1')),
        complete: s.seeders,
        incomplete: peerCount(s) - s.seeders,
        downloaded: s.downloaded,
        peers4: s.v4.count,
        peers6: s.v6?.count ?? 0,
        byNatClass,
      }
    })
  }

  private update(swarm: Swarm, slab: PeerSlab, slot: number, req: StoreAnnounce, ip: Uint8Array): void {
    slab.setEndpoint(slot, ip, req.port)
    let flags = slab.flags(slot)
    flags = req.left === 0 ? flags | FLAG_SEEDER : flags & ~FLAG_SEEDER
    if (flags & FLAG_SEEDER) {
      swarm.seeders++
      this.seederTotal++
    }
    // A completion counts once per peer.
    if (req.event === 'completed' && !(flags & FLAG_COMPLETED)) {
      flags |= FLAG_COMPLETED
      swarm.downloaded++
      this.downloadedTotal++
    }
    slab.setFlags(slot, flags)
    slab.setLastSeen(slot, Math.floor(req.now / 1000))
  }

  private removeSlot(swarm: Swarm, slab: PeerSlab, slot: number): void {
    if (slab.flags(slot) & FLAG_SEEDER) {
      swarm.seeders--
      this.seederTotal--
    }
    this.natTotals[slab.natCode(slot)]!--
    if (slab === swarm.v6) this.v6Total--
    slab.remove(slot)
    this.peerTotal--
  }

  /** Drops the least recently announced swarm with all its peers. */
  private evictSwarm(): void {
    const oldest = this.oldest
    if (!oldest) return
    for (const slab of [oldest.v4, oldest.v6]) {
      if (!slab) continue
      for (let i = 0; i < slab.count; i++) this.natTotals[slab.natCode(i)]!--
      if (slab === oldest.v6) this.v6Total -= slab.count
    }
    this.peerTotal -= peerCount(oldest)
    this.seederTotal -= oldest.seeders
    this.evictedSwarms++
    this.dropSwarm(oldest)
  }

  /**
   * Drops one peer of a full swarm: the longest-silent of EVICTION_SAMPLE picked at random. Exact
   * least-recently-announced order would cost a list per swarm; a peer that keeps announcing is
   * almost never the oldest of the sample, so long-silent peers and floods are what goes.
   */
  private evictPeer(swarm: Swarm): void {
    const n = peerCount(swarm)
    let victim: { slab: PeerSlab; slot: number; seen: number } | undefined
    for (let k = 0; k < Math.min(EVICTION_SAMPLE, n); k++) {
      const i = this.deps.random.int(n)
      const slab = i < swarm.v4.count ? swarm.v4 : swarm.v6!
      const slot = slab === swarm.v4 ? i : i - swarm.v4.count
      const seen = slab.lastSeen(slot)
      if (!victim || seen < victim.seen) victim = { slab, slot, seen }
    }
    if (!victim) return
    this.removeSlot(swarm, victim.slab, victim.slot)
    this.evictedPeers++
  }

  private dropSwarm(swarm: Swarm): void {
    this.downloadedTotal -= swarm.downloaded
    if (this.expireSwarm === swarm) this.expireSwarm = undefined
    this.swarms.delete(swarm.key)
    this.unlink(swarm)
  }

  private linkNewest(swarm: Swarm): void {
    swarm.older = this.newest
    swarm.newer = undefined
    if (this.newest) this.newest.newer = swarm
    else this.oldest = swarm
    this.newest = swarm
  }

  private unlink(swarm: Swarm): void {
    if (swarm.older) swarm.older.newer = swarm.newer
    else if (this.oldest === swarm) this.oldest = swarm.newer
    if (swarm.newer) swarm.newer.older = swarm.older
    else if (this.newest === swarm) this.newest = swarm.older
    swarm.older = undefined
    swarm.newer = undefined
  }

  /** Up to `numwant` peers other than `self`, from a random start with a random stride coprime to the count. */
  private sample(
    swarm: Swarm,
    self: { slab: PeerSlab; slot: number } | undefined,
    numwant: number,
    wantIds: boolean,
  ): PeerSample {
    const n4 = swarm.v4.count
    const n6 = swarm.v6?.count ?? 0
    const n = n4 + n6
    const take = Math.min(numwant, self ? n - 1 : n)
    if (take <= 0) return EMPTY_SAMPLE
    const buf4 = new Uint8Array(Math.min(take, n4) * 6)
    const buf6 = new Uint8Array(Math.min(take, n6) * 18)
    const ids4: Uint8Array[] = []
    const ids6: Uint8Array[] = []
    let p4 = 0
    let p6 = 0
    let stride = n > 1 ? 1 + this.deps.random.int(n - 1) : 1
    while (gcd(stride, n) !== 1) stride = (stride % (n - 1)) + 1
    let i = this.deps.random.int(n)
    for (let seen = 0, got = 0; seen < n && got < take; seen++, i = (i + stride) % n) {
      const v6 = i >= n4
      const slab = v6 ? swarm.v6! : swarm.v4
      const slot = v6 ? i - n4 : i
      if (self && self.slab === slab && self.slot === slot) continue
      if (v6) {
        p6 = slab.writeCompact(slot, buf6, p6)
        if (wantIds) ids6.push(slab.peerId(slot))
      } else {
        p4 = slab.writeCompact(slot, buf4, p4)
        if (wantIds) ids4.push(slab.peerId(slot))
      }
      got++
    }
    return {
      compact4: p4 === buf4.length ? buf4 : buf4.subarray(0, p4),
      compact6: p6 === buf6.length ? buf6 : buf6.subarray(0, p6),
      ...(wantIds ? { peerIds: [...ids4, ...ids6] } : {}),
    }
  }
}

/**
 * BEP 7's key guards a peer id: once a peer announced with a key, an announce of its peer id from
 * another address must carry the same key. Without that, anyone who saw a peer id (non-compact
 * answers list them) could move its entry to another address, or remove it with `stopped`.
 */
function checkOwner(slab: PeerSlab, slot: number, key: number | undefined, sameAddress: boolean): void {
  const held = slab.key(slot)
  if (held === undefined || held === key || sameAddress) return
  throw new TrackerError(
    'TRACKER_PEER_ID_TAKEN',
    'peer id in use from another address: announce with the key it started with',
  )
}
