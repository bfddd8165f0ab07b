import { isIP } from 'node:net'
import { TrackerError } from '../../protocol/errors.js'
import type { TrackerDeps } from '../tracker-options.js'

/** Strips the IPv4-mapped prefix so an IPv4 peer is always stored and returned as IPv4. */
export function normaliseIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip
}

/**
 * The address a peer is announced under: the connection's source, or, only behind a trusted proxy,
 * the client's `ip` parameter when it is a literal address (never a host name to resolve).
 */
export function announcedIp(sourceIp: string, ipParam: string | undefined, trustProxy: boolean): string {
  if (trustProxy && ipParam && isIP(ipParam)) return normaliseIp(ipParam)
  return normaliseIp(sourceIp)
}

/**
 * Counts one announce or scrape against its source address (never the `ip` parameter, which the
 * client chooses); throws the rate-limit failure when the address is over its share.
 */
export function admitRequest(deps: TrackerDeps, sourceIp: string, trustProxy: boolean): void {
  if (deps.requestLimiter?.admit(announcedIp(sourceIp, undefined, trustProxy), deps.clock.now()) === false) {
    throw new TrackerError('TRACKER_RATE_LIMITED', 'too many requests from this address: slow down')
  }
}
