import { createHmac } from 'node:crypto'

/** How long one connection-id bucket lasts; an id is accepted in its bucket and the next (BEP 15: 1-2 min). */
export const CONNECTION_ID_BUCKET_MS = 60_000

/**
 * Connection ids that need no table and cannot be forged: an HMAC of the client's address and a time
 * bucket under the tracker's secret, 64 bits with the top bit clear (protocol/udp-framing.ts relies on
 * that to tell BEP 15 requests from rendezvous messages).
 */
export function issueConnectionId(secret: Uint8Array, address: string, port: number, now: number): bigint {
  return idFor(secret, address, port, Math.floor(now / CONNECTION_ID_BUCKET_MS))
}

export function checkConnectionId(
  secret: Uint8Array,
  id: bigint,
  address: string,
  port: number,
  now: number,
): boolean {
  const bucket = Math.floor(now / CONNECTION_ID_BUCKET_MS)
  return id === idFor(secret, address, port, bucket) || id === idFor(secret, address, port, bucket - 1)
}

function idFor(secret: Uint8Array, address: string, port: number, bucket: number): bigint {
  const mac = createHmac('sha256', secret).update(`${address}|${port}|${bucket}`).digest()
  return mac.readBigUInt64BE(0) & 0x7fffffffffffffffn
}
