declare module 'bittorrent-protocol' {
  import type { EventEmitter } from 'node:events'

  /** The ut_metadata extension (BEP 9) as installed on a wire by `wire.use(ut_metadata(...))`. */
  interface UtMetadataHandle extends EventEmitter {
    metadata: Uint8Array | null
    fetch(): void
    cancel(): void
    setMetadata(metadata: Uint8Array): boolean
  }

  /** The ut_pex extension (BEP 11) as installed on a wire. */
  interface UtPexHandle extends EventEmitter {
    addPeer(peer: string): void
    dropPeer(peer: string): void
  }

  /** The parts of bittorrent-protocol's Wire (a streamx Duplex) punchswarm uses. */
  class Wire extends EventEmitter {
    /**
     * `type` containing 'Incoming' or 'Outgoing' picks the MSE/PE role; `peEnabled` 0 = no PE,
     * 1 = PE preferring a plaintext payload, 2 = PE with RC4 only.
     */
    constructor(type?: string, peEnabled?: 0 | 1 | 2)
    /** Responder: the info hash (hex) whose SKEY hash the initiator sent ('crypto-infohash'). */
    setInfoHash(infoHash: string): void
    /** Initiator: sends the first PE message for this info hash (hex). */
    startEncryption(infoHash: string): void
    /** The Duplex's write side: bytes from the peer (client/swarm/framed-wire.ts overrides it). */
    _write(data: Uint8Array, cb: (err: Error | null) => void): void
    peerId: string | null
    peerChoking: boolean
    amChoking: boolean
    amInterested: boolean
    peerInterested: boolean
    peerPieces: { get(index: number): boolean; buffer: Uint8Array }
    peerExtensions: Record<string, boolean>
    /** Our extended message ids (BEP 10) to the extensions registered with `use`. */
    extendedMapping: Record<number, string>
    requests: unknown[]
    /** Requests the peer made that are not answered yet. */
    peerRequests: unknown[]
    destroyed: boolean
    ut_metadata?: UtMetadataHandle
    ut_pex?: UtPexHandle
    use(extension: unknown): void
    handshake(
      infoHash: string | Uint8Array,
      peerId: string | Uint8Array,
      extensions?: Record<string, boolean>,
    ): void
    bitfield(bitfield: Uint8Array | { buffer: Uint8Array }): void
    haveAll(): void
    interested(): void
    uninterested(): void
    unchoke(): void
    choke(): void
    have(index: number): void
    /** BEP 5 PORT: where our DHT node listens. */
    port(port: number): void
    request(
      index: number,
      offset: number,
      length: number,
      cb: (err: Error | null, block: Uint8Array) => void,
    ): void
    cancel(index: number, offset: number, length: number): void
    setKeepAlive(enable: boolean): void
    setTimeout(ms: number, unref?: boolean): void
    pipe<T>(destination: T): T
    pause(): this
    resume(): this
    destroy(err?: Error): void
    end(): void
  }
  export default Wire
}

declare module 'ut_metadata' {
  /** Makes the ut_metadata extension; pass the info dict's bytes when we have them. */
  function utMetadata(metadata?: Uint8Array): unknown
  export default utMetadata
}

declare module 'ut_pex' {
  function utPex(): unknown
  export default utPex
}
