// Types for the parts of bittorrent-dht (11.x, untyped) that client/dht uses.
declare module 'bittorrent-dht' {
  import type { EventEmitter } from 'node:events'

  /** A DHT contact: k-rpc's `host`; Node's `address` is accepted too. */
  interface DhtContact {
    host?: string
    address?: string
    port: number
    id?: Uint8Array
  }

  /** The socket k-rpc-socket drives: node:dgram's shape, or anything with the same methods. */
  interface KrpcSocketLike extends EventEmitter {
    send(
      buf: Uint8Array,
      offset: number,
      length: number,
      port: number,
      address: string,
      cb?: (err: Error | null) => void,
    ): void
    address(): { address: string; port: number; family: string }
    bind(...args: unknown[]): void
    close(): void
  }

  interface DhtOptions {
    nodeId?: Uint8Array
    /** `false` for none; an empty list also means none (k-rpc's public routers only when omitted). */
    bootstrap?: false | Array<{ host: string; port: number }>
    socket?: KrpcSocketLike
    /** k-rpc-socket's query timeout, ms. */
    timeout?: number
    maxPeers?: number
    /** How long an announced peer is kept, ms (0: until evicted). */
    maxAge?: number
    maxTables?: number
  }

  interface RoutingTable {
    count(): number
    toArray(): Array<{ id: Uint8Array; host: string; port: number }>
    /** The `n` contacts closest to `id` (k-bucket). */
    closest(id: Uint8Array, n?: number): Array<{ id: Uint8Array; host: string; port: number }>
  }

  class DHT extends EventEmitter {
    constructor(options?: DhtOptions)
    readonly nodeId: Uint8Array
    readonly nodes: RoutingTable
    listening: boolean
    ready: boolean
    destroyed: boolean
    /** Finds peers for an info hash ('peer' events); the callback gets the number of nodes visited. */
    lookup(infoHash: Uint8Array, cb?: (err: Error | null, visited?: number) => void): () => void
    /** Looks the info hash up if needed, then announces; port 0 sends `implied_port`. */
    announce(infoHash: Uint8Array, port: number, cb?: (err: Error | null) => void): void
    /** Pings a contact and adds it to the routing table if it answers. */
    addNode(node: DhtContact): void
    address(): { address: string; port: number; family: string }
    /** Binds its own socket (a DHT node that does not share one). */
    listen(port: number, host: string, cb: () => void): void
    destroy(cb?: () => void): void
  }

  export default DHT
}
