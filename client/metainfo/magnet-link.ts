import { isIP } from 'node:net'
import { UsageError } from '../../protocol/errors.js'
import type { MagnetLink, Metainfo } from './metainfo-types.js'
import { isWebSeedUrl } from './web-seed-url.js'

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/**
 * Parses a magnet link (BEP 9): `xt=urn:btih:` with a 40-char hex or 32-char base32 info hash,
 * `dn`, every `tr`, and `x.pe` peers. Throws UsageError 'USAGE_BAD_MAGNET' with a one-line reason.
 * Malformed `x.pe` entries are skipped: they are hints, and the link still names its torrent.
 */
export function parseMagnet(uri: string): MagnetLink {
  const trimmed = uri.trim()
  if (!/^magnet:\?/i.test(trimmed)) bad('it does not start with "magnet:?"')
  let params: URLSearchParams
  try {
    // '+' is a literal in many magnet links' tracker URLs; only %XX escapes are decoded.
    params = new URLSearchParams(trimmed.slice(8).replace(/\+/g, '%2B'))
  } catch (err) {
    bad(`cannot parse its parameters: ${(err as Error).message}`)
  }
  let infoHash: Uint8Array | undefined
  for (const xt of params.getAll('xt')) {
    const m = /^urn:btih:(.+)$/i.exec(xt)
    if (m?.[1]) infoHash = decodeInfoHash(m[1])
  }
  if (!infoHash) bad('it has no xt=urn:btih: info hash')
  const trackers: string[] = []
  const webSeeds: string[] = []
  const peers: { address: string; port: number }[] = []
  for (const [key, value] of params) {
    // BEP 19 in magnet links: `ws` web seeds (used once a peer has supplied the info dict).
    if (key === 'ws' && isWebSeedUrl(value) && !webSeeds.includes(value)) webSeeds.push(value)
    if ((key === 'tr' || /^tr\.\d+$/.test(key)) && value !== '' && !trackers.includes(value))
      trackers.push(value)
    if (key === 'x.pe') {
      const peer = parsePeer(value)
      if (peer) peers.push(peer)
    }
  }
  const name = params.get('dn') ?? undefined
  const link: MagnetLink = {
    infoHash,
    infoHashHex: Buffer.from(infoHash).toString('hex'),
    trackers,
    peers,
    ...(webSeeds.length > 0 ? { webSeeds } : {}),
  }
  return name ? { ...link, name } : link
}

/** A magnet link for a torrent: info hash, name and every tracker of every tier. */
export function toMagnetUri(m: Metainfo): string {
  const parts = [`xt=urn:btih:${m.infoHashHex}`, `dn=${encodeURIComponent(m.name)}`]
  for (const url of new Set(m.announce.flat())) parts.push(`tr=${encodeURIComponent(url)}`)
  for (const url of m.webSeeds ?? []) parts.push(`ws=${encodeURIComponent(url)}`)
  return `magnet:?${parts.join('&')}`
}

function decodeInfoHash(text: string): Uint8Array {
  if (/^[0-9a-f]{40}$/i.test(text)) return new Uint8Array(Buffer.from(text, 'hex'))
  if (/^[A-Z2-7]{32}$/i.test(text)) {
    const out = new Uint8Array(20)
    let bits = 0
    let acc = 0
    let i = 0
    for (const ch of text.toUpperCase()) {
      acc = (acc << 5) | BASE32_ALPHABET.indexOf(ch)
      bits += 5
      if (bits >= 8) {
        bits -= 8
        out[i++] = (acc >> bits) & 0xff
      }
    }
    return out
  }
  bad(`info hash "${text.slice(0, 48)}" is neither 40 hex nor 32 base32 characters`)
}

function parsePeer(value: string): { address: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value)
  if (!m?.[1] || !m[2]) return undefined
  const port = Number(m[2])
  if (!isIP(m[1]) || port < 1 || port > 65535) return undefined
  return { address: m[1], port }
}

function bad(reason: string): never {
  throw new UsageError('USAGE_BAD_MAGNET', `bad magnet link: ${reason}`)
}
