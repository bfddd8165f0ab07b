/**
 * The swarm store: where the tracker keeps who is in which swarm. In memory now (memory-swarm-store.ts);
 * a shared store can implement the same interface later. Every operation is O(1) or O(numwant): an
 * announce never scans a swarm, and expiry runs in small slices so it never pauses announces.
 */

export type AnnounceEvent = 'started' | 'completed' | 'stopped' | 'none'

/** NAT class as learned by the rendezvous protocol; `unknown` for peers that never registered. */
export type NatClass = 'unknown' | 'public' | 'cone' | 'symmetric' | 'firewalled' | 'blocked'

export const NAT_CLASSES: readonly NatClass[] = [
  'unknown',
  'public',
  'cone',
  'symmetric',
  'firewalled',
  'blocked',
]

export interface StoreAnnounce {
  /** 20 raw bytes. */
  infoHash: Uint8Array
  /** 20 raw bytes. */
  peerId: Uint8Array
  /** The peer's address as the tracker saw it (IPv4 dotted or IPv6 text, never IPv4-mapped). */
  ip: string
  family: 'IPv4' | 'IPv6'
  port: number
  /** Bytes left; 0 means seeder. */
  left: number
  event: AnnounceEvent
  /** Already capped by the caller. */
  numwant: number
  /** Monotonic milliseconds. */
  now: number
  /** The announce key (BEP 7; announce-key.ts) as a u32, if the client sent one. */
  key?: number | undefined
}

/** Peers chosen for an announce, ready to encode. Never includes the announcing peer itself. */
export interface PeerSample {
  /** BEP 23 compact IPv4 peers: 6 bytes each. */
  compact4: Uint8Array
  /** BEP 7 compact IPv6 peers: 18 bytes each. */
  compact6: Uint8Array
  /** Peer ids, aligned with compact4 then compact6 (only filled when `wantPeerIds`). */
  peerIds?: Uint8Array[]
}

export interface SwarmCounts {
  complete: number
  incomplete: number
  downloaded: number
}

export interface StoreAnnounceResult extends SwarmCounts {
  peers: PeerSample
}

export interface SwarmSummary extends SwarmCounts {
  infoHash: Uint8Array
  peers4: number
  peers6: number
  byNatClass: Record<NatClass, number>
}

export interface StoreTotals {
  swarms: number
  peers: number
  seeders: number
  leechers: number
  /** Completed downloads counted across swarms that still exist. */
  downloaded: number
  peers4: number
  peers6: number
  byNatClass: Record<NatClass, number>
}

export interface SwarmStore {
  /** Adds, refreshes or removes (event `stopped`) a peer and picks up to `numwant` others. */
  announce(req: StoreAnnounce, opts?: { wantPeerIds?: boolean }): StoreAnnounceResult
  /** Counts for one swarm; zeros for an unknown one. */
  scrape(infoHash: Uint8Array): SwarmCounts
  /** Records the NAT class a registered peer was found to have. Returns false if the peer is unknown. */
  setNatClass(infoHash: Uint8Array, peerId: Uint8Array, natClass: NatClass): boolean
  /** Drops peers not seen since `now - maxAgeMs`, visiting at most `budget` peers; returns how many it dropped. */
  expire(now: number, maxAgeMs: number, budget: number): number
  /** Number of swarms and peers, for stats and limits. */
  size(): { swarms: number; peers: number }
  /** Counts over every swarm, kept incrementally (cheap to read). */
  totals(): StoreTotals
  /** Per-swarm summaries, largest first, at most `limit`. */
  summaries(limit: number): SwarmSummary[]
}
