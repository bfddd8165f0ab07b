import { readFile, rename, writeFile } from 'node:fs/promises'
import { isIPv4 } from 'node:net'
import { join } from 'node:path'

/**
 * The DHT contacts a client knew when it stopped, kept beside the data (as resume data is) so the
 * next `seed` or `get` there rejoins the DHT through them instead of only the routers (libtorrent and
 * Transmission keep theirs too). A cache: a missing, unreadable or malformed file is an empty one.
 */
export const DHT_NODE_CACHE_FILE = '.punchswarm-dht.json'
/** More than a routing table's first buckets need; the file stays a few kilobytes. */
export const DHT_NODE_CACHE_MAX = 200

export type DhtContact = { host: string; port: number }

export async function readDhtNodeCache(dir: string): Promise<DhtContact[]> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readFile(join(dir, DHT_NODE_CACHE_FILE), 'utf8'))
  } catch {
    return []
  }
  const nodes = (parsed as { nodes?: unknown } | null)?.nodes
  return Array.isArray(nodes) ? nodes.filter(isContact).slice(0, DHT_NODE_CACHE_MAX) : []
}

/** Replaces the cache atomically (temp file, rename); a failure to write is not worth an error. */
export async function writeDhtNodeCache(dir: string, nodes: DhtContact[]): Promise<void> {
  const keep = nodes.filter(isContact).slice(0, DHT_NODE_CACHE_MAX)
  if (keep.length === 0) return
  const path = join(dir, DHT_NODE_CACHE_FILE)
  try {
    await writeFile(`${path}.tmp`, JSON.stringify({ nodes: keep.map(({ host, port }) => ({ host, port })) }))
    await rename(`${path}.tmp`, path)
  } catch {
    // A read-only or vanished directory: the next run bootstraps from the routers.
  }
}

function isContact(n: unknown): n is DhtContact {
  const c = n as DhtContact | null
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.host === 'string' &&
    isIPv4(c.host) &&
    Number.isInteger(c.port) &&
    c.port > 0 &&
    c.port <= 65535
  )
}
