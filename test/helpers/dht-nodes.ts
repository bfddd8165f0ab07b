import DHT from 'bittorrent-dht'

/** What k-rpc exposes under bittorrent-dht: one query, answered or failed (timeout) through `cb`. */
interface KrpcQuery {
  query(
    peer: { host: string; port: number },
    message: { q: string; a: Record<string, unknown> },
    cb: (err: Error | null) => void,
  ): void
}

/**
 * A stock bittorrent-dht node with its own socket on 127.0.0.1, joined through `bootstrap` (none: a
 * DHT of its own). Its destroy is pushed onto `cleanups`.
 */
export async function startPlainDhtNode(
  bootstrap: Array<{ host: string; port: number }>,
  cleanups: (() => unknown)[],
): Promise<DHT> {
  const node = new DHT({ bootstrap })
  cleanups.push(() => new Promise<void>((r) => node.destroy(() => r())))
  node.on('warning', () => {})
  await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', () => resolve()))
  await new Promise<void>((resolve) => (node.ready ? resolve() : node.once('ready', () => resolve())))
  return node
}

/** Whether a DHT node on 127.0.0.1:`port` answers a KRPC ping from `from`. */
export function pingDhtNode(from: DHT, port: number): Promise<boolean> {
  const rpc = (from as unknown as { _rpc: KrpcQuery })._rpc
  return new Promise((resolve) =>
    rpc.query({ host: '127.0.0.1', port }, { q: 'ping', a: { id: from.nodeId } }, (err) => resolve(!err)),
  )
}
