import { createHmac, timingSafeEqual } from 'node:crypto'
import { ipToBytes } from '../ip-address.js'

/**
 * Registration tokens. The tracker issues one in each announce response; a peer may register its UDP
 * endpoint, or send connect-requests, only with a token bound to its peer id, its address, the swarm
 * and an expiry. So nobody can register an endpoint that is not their own: the announce came over
 * TCP from that address, and the token is an HMAC under the tracker's secret.
 *
 * Layout: expiry (u32, seconds on the tracker's clock) then the first 16 bytes of
 * HMAC-SHA256(secret, expiry || info_hash || peer_id || ip bytes).
 */

export const TOKEN_BYTES = 20
const MAC_BYTES = 16

export interface TokenSubject {
  infoHash: Uint8Array
  peerId: Uint8Array
  /** The address the tracker saw the peer at. */
  ip: string
}

function mac(secret: Uint8Array, expiry: number, s: TokenSubject): Buffer {
  const head = Buffer.alloc(4)
  head.writeUInt32BE(expiry >>> 0)
  return createHmac('sha256', secret)
    .update(head)
    .update(s.infoHash)
    .update(s.peerId)
    .update(ipToBytes(s.ip))
    .digest()
    .subarray(0, MAC_BYTES)
}

/** Issues a token valid until `expiresAtSeconds`. */
export function issueRegisterToken(
  secret: Uint8Array,
  subject: TokenSubject,
  expiresAtSeconds: number,
): Uint8Array {
  const out = Buffer.alloc(TOKEN_BYTES)
  out.writeUInt32BE(expiresAtSeconds >>> 0, 0)
  mac(secret, expiresAtSeconds >>> 0, subject).copy(out, 4)
  return out
}

export type TokenVerdict = 'ok' | 'expired' | 'invalid'

/** Checks a token against who presents it and when. Constant-time in the MAC comparison. */
export function verifyRegisterToken(
  secret: Uint8Array,
  token: Uint8Array,
  subject: TokenSubject,
  nowSeconds: number,
): TokenVerdict {
  if (token.length !== TOKEN_BYTES) return 'invalid'
  const expiry = Buffer.from(token.buffer, token.byteOffset, 4).readUInt32BE(0)
  let expected: Buffer
  try {
    expected = mac(secret, expiry, subject)
  } catch {
    return 'invalid'
  }
  if (!timingSafeEqual(expected, token.subarray(4))) return 'invalid'
  return nowSeconds > expiry ? 'expired' : 'ok'
}
