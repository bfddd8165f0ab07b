import type Wire from 'bittorrent-protocol'
import utMetadata from 'ut_metadata'
import { bencodePrefixLength } from '../../protocol/bencode-codec.js'
import { ProtocolError, PunchswarmError } from '../../protocol/errors.js'
import { PeerMessageFramer } from '../../protocol/wire/peer-message-framer.js'

type WriteHook = (data: Uint8Array, cb: (err?: Error | null) => void) => void

/** The first byte of a plaintext BEP 3 handshake (its protocol string's length). */
const HANDSHAKE_PSTRLEN = 19

/**
 * Puts a peer's inbound bytes through {@link PeerMessageFramer} before the Wire parses them, and
 * turns anything the Wire or its extensions throw while parsing (ut_metadata's `_onData` throws a
 * RangeError for a piece past the metadata's end, say) into an error that destroys this wire only.
 * Without it such a throw escapes from streamx's write loop (a microtask) as an uncaught exception
 * and ends the process.
 *
 * With `mayEncrypt` (a wire that accepts MSE/PE), a stream that does not open with a plaintext
 * handshake is an encryption handshake: the framer cannot read it and steps aside, and FramedWire
 * applies the same checks to the messages once decrypted.
 *
 * It wraps the Wire's streamx `_write` hook, the one place every inbound chunk passes through.
 */
export function guardWire(wire: Wire, mayEncrypt = false): Wire {
  let framer: PeerMessageFramer | undefined = new PeerMessageFramer()
  let first = true
  const hooks = wire as unknown as { _write: WriteHook }
  const write = hooks._write
  hooks._write = (data, cb) => {
    if (first && data.length > 0) {
      first = false
      if (mayEncrypt && data[0] !== HANDSHAKE_PSTRLEN) framer = undefined
    }
    let refused: unknown
    try {
      framer?.push(data)
    } catch (err) {
      // The bytes before the one that broke the framing are parsed first (the handshake, say).
      refused = err
      data = data.subarray(0, framer!.failedAt)
    }
    try {
      // Wire's own _write always calls back at once, with no error; the callback is ours to call.
      if (data.length > 0) write.call(wire, data, () => {})
      if (refused) throw refused
      cb(null)
    } catch (err) {
      const error =
        err instanceof PunchswarmError
          ? err
          : new ProtocolError('PROTOCOL_PEER_MISBEHAVED', `peer message broke the wire: ${String(err)}`, {
              cause: err,
            })
      // Wire.destroy() drops its argument, so the error is emitted here for the session to log.
      if (wire.listenerCount('error') > 0) wire.emit('error', error)
      cb(error)
    }
  }
  return wire
}

interface UtMetadataInstance {
  /** The buffer pieces are assembled into while fetching. */
  metadata?: Uint8Array
  setMetadata(metadata: Uint8Array): Promise<boolean>
  emit(event: string, ...args: unknown[]): boolean
}
type UtMetadataClass = new (wire: Wire) => UtMetadataInstance

/**
 * ut_metadata (BEP 9) with two flaws of the stock one closed (both found by bench/fuzz):
 * - it hashes the assembled buffer, awaits, then decodes and keeps that same buffer, while a data
 *   message arriving meanwhile still writes into it: the bytes it keeps need not be the bytes that
 *   matched the info hash. Here the buffer is copied before it is checked.
 * - that decode throws inside an async function when the bytes are not bencode: an unhandled
 *   rejection, which ends the process. Here it becomes a 'warning' and a failed fetch.
 * - it decodes the assembled bytes before it checks their hash, with the `bencode` package, which
 *   loops forever on a negative string length: any peer of a magnet download could hang it. Here
 *   bytes that are not well-formed bencode fail the fetch first.
 * The session still checks the metadata against its own info hash before using it.
 */
export function safeUtMetadata(metadata?: Uint8Array): unknown {
  const Base = utMetadata(metadata) as UtMetadataClass
  class SafeUtMetadata extends Base {
    override async setMetadata(bytes: Uint8Array): Promise<boolean> {
      try {
        // Only the assembly buffer can change under the check; metadata we were given cannot.
        const checked = bytes === this.metadata ? Uint8Array.from(bytes) : bytes
        bencodePrefixLength(checked)
        return await super.setMetadata(checked)
      } catch (err) {
        this.emit('warning', err)
        return false
      }
    }
  }
  return SafeUtMetadata
}
