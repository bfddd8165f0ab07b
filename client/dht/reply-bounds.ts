import type DHT from 'bittorrent-dht'

/** libtorrent's dht_max_peers_reply. */
export const DHT_MAX_PEERS_PER_REPLY = 100
/** BEP 5: a node answers with the K = 8 closest nodes it knows. */
export const DHT_MAX_NODES_PER_REPLY = 8
/** No datagram of ours is larger: a reply at the bounds above is about 900 bytes, a BEP 44 item 1,200. */
export const DHT_MAX_DATAGRAM_BYTES = 1500

interface DhtInternals {
  _peers: { get(infoHashHex: string, n?: number): unknown[] }
  _rpc: { nodes: { closest(id: Uint8Array, n?: number): unknown[] } }
}

/**
 * bittorrent-dht answers `get_peers` with every peer it stores for the hash (up to 10,000) and
 * `find_node` / `get_peers` with its whole routing table, sorted by distance: to a spoofed source,
 * tens of kilobytes for a 100-byte query, once someone announced many ports for one hash. Its replies
 * ask for both without a count, and its own lookups always give one, so a default count bounds the
 * replies alone. The internals are bittorrent-dht 11's; test/unit/client/dht/dht-swarm.test.ts
 * measures real replies and fails if a new version goes around this.
 */
export function boundReplies(dht: DHT): void {
  const internals = dht as unknown as DhtInternals
  const peers = internals._peers
  const getPeers = peers.get.bind(peers)
  peers.get = (infoHashHex, n) =>
    getPeers(infoHashHex, Math.min(n ?? DHT_MAX_PEERS_PER_REPLY, DHT_MAX_PEERS_PER_REPLY))
  const table = internals._rpc.nodes
  const closest = table.closest.bind(table)
  table.closest = (id, n) => closest(id, n ?? DHT_MAX_NODES_PER_REPLY)
}
