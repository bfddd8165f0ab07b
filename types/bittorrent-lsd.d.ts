// Types for the parts of bittorrent-lsd (2.x, untyped) that client/lsd uses.
declare module 'bittorrent-lsd' {
  import type { EventEmitter } from 'node:events'

  interface LsdOptions {
    /** Hex, or a Buffer (it calls `toString('hex')`). */
    peerId: string
    /** Hex, or a Buffer. */
    infoHash: string
    port: number
  }

  interface ParsedAnnounce {
    host: string
    port: string
    infoHash: string[]
    cookie: string | null
  }

  /** One torrent's BEP 14 announcer and listener on 239.192.152.143:6771 (its own socket). */
  class LSD extends EventEmitter {
    constructor(options: LsdOptions)
    readonly cookie: string
    /** Binds, joins the group, announces now and every 5 minutes. */
    start(): void
    destroy(cb?: () => void): void
    _parseAnnounce(text: string): ParsedAnnounce | null
  }

  export default LSD
}
