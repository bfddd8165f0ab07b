declare module 'bittorrent-protocol' {
  import type { EventEmitter } from 'node:events'

  /** The parts of bittorrent-protocol's Wire (a streamx Duplex) punchswarm uses. */
  class Wire extends EventEmitter {
    constructor(type?: string, retries?: number, peEnabled?: boolean)
    peerId: string | null
    peerChoking: boolean
    amChoking: boolean
    peerInterested: boolean
    peerPieces: { get(index: number): boolean }
    peerExtensions: Record<string, boolean>
    destroyed: boolean
    handshake(
      infoHash: string | Uint8Array,
      peerId: string | Uint8Array,
      extensions?: Record<string, boolean>,
    ): void
    bitfield(bitfield: Uint8Array | { buffer: Uint8Array }): void
    haveAll(): void
    interested(): void
    unchoke(): void
    choke(): void
    have(index: number): void
    request(
      index: number,
      offset: number,
      length: number,
      cb: (err: Error | null, block: Uint8Array) => void,
    ): void
    setKeepAlive(enable: boolean): void
    setTimeout(ms: number, unref?: boolean): void
    pipe<T>(destination: T): T
    destroy(err?: Error): void
    end(): void
  }
  export default Wire
}
