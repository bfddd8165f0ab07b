import { UsageError } from '../../protocol/errors.js'
import { DEFAULT_DHT_BOOTSTRAP, parseBootstrapNode } from '../dht/bootstrap-nodes.js'
import { readDhtNodeCache, writeDhtNodeCache } from '../dht/dht-node-cache.js'
import type { EncryptionMode } from '../swarm/peer-encryption.js'
import type { SwarmClient, SwarmClientOptions } from '../swarm/swarm-client.js'
import { parsePort } from './parse-port.js'

/** The network flags `seed` and `get` share. */
export interface SwarmFlags {
  port: string
  tcp: boolean
  utp: boolean
  encryption: string
  dht: boolean
  dhtBootstrap?: string[]
  lsd: boolean
}

/** SwarmClient options from `seed`'s or `get`'s flags; a bad value is a UsageError. */
export function swarmClientOptions(flags: SwarmFlags): SwarmClientOptions {
  return {
    port: parsePort(flags.port),
    tcp: flags.tcp,
    utp: flags.utp,
    encryption: parseEncryption(flags.encryption),
    lsd: flags.lsd,
    ...(flags.dht
      ? { dht: { bootstrap: flags.dhtBootstrap?.map(parseBootstrapNode) ?? [...DEFAULT_DHT_BOOTSTRAP] } }
      : {}),
  }
}

/** Adds the DHT contacts an earlier run in `dir` saved (dht-node-cache.ts) to the client's options. */
export async function withCachedDhtNodes(
  options: SwarmClientOptions,
  dir: string,
): Promise<SwarmClientOptions> {
  if (!options.dht) return options
  return { ...options, dht: { ...options.dht, knownNodes: await readDhtNodeCache(dir) } }
}

/** Saves the DHT contacts beside the data for the next run, then closes the client. */
export async function closeSwarmClient(client: SwarmClient, dir: string): Promise<void> {
  if (client.dht) await writeDhtNodeCache(dir, client.dht.contacts())
  await client.close()
}

/** `--encryption`: MSE/PE for the swarm client (client/swarm/peer-encryption.ts). */
function parseEncryption(text: string): EncryptionMode {
  if (text === 'allow' || text === 'prefer' || text === 'require') return text
  throw new UsageError('USAGE_BAD_ARGUMENT', `--encryption must be prefer, allow or require, got '${text}'`)
}

/** A rate flag's bytes per second, if it was given. */
export function optionalRate(text: string | undefined, flag: string): number | undefined {
  return text === undefined ? undefined : parseRate(text, flag)
}

/** `500000`, `500k`, `2m` bytes per second, for `--FLAG`. */
function parseRate(text: string, flag: string): number {
  const m = /^(\d+)(k|m)?$/i.exec(text.trim())
  if (!m?.[1] || Number(m[1]) === 0) {
    throw new UsageError('USAGE_BAD_ARGUMENT', `--${flag} must be bytes per second, got '${text}'`)
  }
  const unit = (m[2] ?? '').toLowerCase()
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1)
}
