import LSD from 'bittorrent-lsd'

/**
 * BEP 14 local service discovery: peers of the same torrent on the local network find each other by
 * multicast (239.192.152.143:6771), without a tracker, as libtorrent, qBittorrent and Transmission do.
 * bittorrent-lsd does the protocol; this guards its parser, which throws (out of the socket's
 * 'message' handler: the process would end) on an announce of fewer than three lines, and which any
 * host of the LAN can reach.
 */
class GuardedLsd extends LSD {
  override _parseAnnounce(text: string) {
    try {
      return super._parseAnnounce(text)
    } catch {
      return null
    }
  }
}

export interface LocalDiscoveryOptions {
  peerId: Uint8Array
  infoHash: Uint8Array
  /** Our listening port (TCP and uTP). */
  port: number
  onPeer: (peer: { address: string; port: number }) => void
  onWarning?: (message: string) => void
}

/** Announces one torrent on the LAN every 5 minutes and reports the local peers of it. */
export class LocalDiscovery {
  private readonly lsd: LSD
  private readonly infoHashHex: string
  private closed = false

  constructor(options: LocalDiscoveryOptions) {
    this.infoHashHex = Buffer.from(options.infoHash).toString('hex')
    // Hex strings: it calls toString('hex'), which a plain Uint8Array does not take.
    this.lsd = new GuardedLsd({
      peerId: Buffer.from(options.peerId).toString('hex'),
      infoHash: this.infoHashHex,
      port: options.port,
    })
    this.lsd.on('peer', (peer: string, infoHash: string) => {
      if (infoHash.toLowerCase() !== this.infoHashHex) return
      const at = peer.lastIndexOf(':')
      const port = Number(peer.slice(at + 1))
      if (port > 0 && port <= 65535) options.onPeer({ address: peer.slice(0, at), port })
    })
    // Announces that do not parse, a missing multicast route: LSD is a best-effort peer source.
    this.lsd.on('warning', (w: unknown) => options.onWarning?.(`lsd: ${String((w as Error)?.message ?? w)}`))
    this.lsd.on('error', (err: Error) => {
      options.onWarning?.(`lsd: ${err.message}`)
      this.close()
    })
    this.lsd.start()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    try {
      this.lsd.destroy()
    } catch {
      // Its socket never got bound (the error that closed it came first).
    }
  }
}
