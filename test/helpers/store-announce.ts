import type { StoreAnnounce } from '../../tracker/store/swarm-store.js'

/** A store announce with test defaults: one swarm, a leecher at 198.18.0.1:6881, no event. */
export function storeAnnounce(over: Partial<StoreAnnounce>, peerId: Uint8Array): StoreAnnounce {
  return {
    infoHash: new Uint8Array(20).fill(1),
    peerId,
    ip: '198.18.0.1',
    family: 'IPv4',
    port: 6881,
    left: 100,
    event: 'none',
    numwant: 50,
    now: 0,
    ...over,
  }
}
