import { createHash } from 'node:crypto'
import type Wire from 'bittorrent-protocol'
import { TransportError } from '../../protocol/errors.js'
import { FramedWire } from './framed-wire.js'
import type { PeerTransport } from './peer-link.js'
import { guardWire } from './wire-guard.js'

/**
 * MSE/PE, the message stream encryption libtorrent, qBittorrent and Transmission speak (their
 * "allow" / "prefer" / "require encryption" settings). bittorrent-protocol implements the handshake
 * and RC4; this file picks the roles.
 * - `prefer` (the default, as libtorrent's `enabled` and Transmission's "prefer"): outgoing
 *   connections open with PE offering a plaintext or an RC4 payload (the peer picks), and are dialled
 *   again in plaintext if the peer will not speak PE (SwarmClient); incoming ones may open either way
 *   (a plaintext payload is chosen when the peer offers it).
 * - `allow`: incoming as above; outgoing connections are plaintext.
 * - `require`: outgoing connections open with PE and RC4, incoming ones must too.
 */
export type EncryptionMode = 'allow' | 'prefer' | 'require'

/** How a connected wire's bytes travel: no PE, PE then plaintext, or PE then RC4. */
export type WireEncryption = 'none' | 'handshake' | 'rc4'

interface WireEncryptor {
  _encryptor: { cryptoHandshakeDone: boolean; encryptionMethod: number | null } | null
}

/** A wire for a connection; `direction` and `mode` decide its part in PE (see {@link EncryptionMode}). */
export function newWire(direction: 'in' | 'out', transport: PeerTransport, mode: EncryptionMode): Wire {
  const pe = mode === 'require' ? 2 : direction === 'in' || mode === 'prefer' ? 1 : 0
  const type = `${transport}${direction === 'in' ? 'Incoming' : 'Outgoing'}`
  return guardWire(new FramedWire(type, pe), pe !== 0)
}

/** What a wire negotiated; a PE initiator answered with a plaintext handshake counts as 'none'. */
export function wireEncryption(wire: Wire): WireEncryption {
  const e = (wire as unknown as WireEncryptor)._encryptor
  if (!e?.cryptoHandshakeDone || e.encryptionMethod === null) return 'none'
  return e.encryptionMethod === 2 ? 'rc4' : 'handshake'
}

/**
 * Responder: an initiator names its torrent only as HASH('req2', info hash); finds which of ours it
 * is and lets the handshake go on, or closes the wire.
 */
export function answerEncryption(wire: Wire, infoHashes: () => Iterable<string>): void {
  wire.once('crypto-infohash', (req2Hex: string) => {
    for (const infoHash of infoHashes()) {
      if (req2Hash(infoHash) === req2Hex) {
        wire.setInfoHash(infoHash)
        return
      }
    }
    wire.destroy()
  })
}

/**
 * Initiator: sends PE's first message and waits until the encrypted stream is set up. (A peer that
 * answers with a plaintext handshake also ends the wait: check {@link wireEncryption} after.)
 */
export function startEncryption(wire: Wire, infoHash: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      cleanup()
      wire.destroy()
      reject(new TransportError('TRANSPORT_REFUSED', `encrypted handshake failed: ${why}`))
    }
    const onDone = () => {
      cleanup()
      resolve()
    }
    const onClose = () => fail('the peer closed the connection')
    const onAbort = () => fail('timed out')
    const cleanup = () => {
      wire.off('crypto-handshake', onDone)
      wire.off('close', onClose)
      signal.removeEventListener('abort', onAbort)
    }
    if (signal.aborted) return onAbort()
    wire.once('crypto-handshake', onDone)
    wire.once('close', onClose)
    signal.addEventListener('abort', onAbort, { once: true })
    wire.startEncryption(infoHash)
  })
}

function req2Hash(infoHashHex: string): string {
  return createHash('sha1').update('req2').update(Buffer.from(infoHashHex, 'hex')).digest('hex')
}
