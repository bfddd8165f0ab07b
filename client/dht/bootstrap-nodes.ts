import { UsageError } from '../../protocol/errors.js'

/**
 * Where a new node joins the public DHT: the routers libtorrent, uTorrent and Transmission ship
 * with. They answer find_node only; a node learns real contacts from them and from peers' PORT
 * messages.
 */
export const DEFAULT_DHT_BOOTSTRAP: ReadonlyArray<{ host: string; port: number }> = [
  { host: 'router.bittorrent.com', port: 6881 },
  { host: 'router.utorrent.com', port: 6881 },
  { host: 'dht.transmissionbt.com', port: 6881 },
  { host: 'dht.libtorrent.org', port: 25401 },
]

/** `host:port` (a name or an IPv4 address) for `--dht-bootstrap`. */
export function parseBootstrapNode(text: string): { host: string; port: number } {
  const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim())
  const port = Number(m?.[2])
  if (!m?.[1] || port < 1 || port > 65535) {
    throw new UsageError('USAGE_BAD_ARGUMENT', `--dht-bootstrap must be host:port, got '${text}'`)
  }
  return { host: m[1], port }
}
