import Wire from 'bittorrent-protocol'
import { checkPeerMessage, checkPeerMessageLength } from '../../protocol/wire/peer-message-framer.js'
import { checkExtendedMessage } from './extended-message-check.js'

/** The parser state of bittorrent-protocol 5's Wire that {@link FramedWire} works with. */
interface WireParser {
  _buffer: Uint8Array[]
  _bufferSize: number
  _parserSize: number
  _parser: (message: Uint8Array) => void
  _encryptor: { _isEncrypted: boolean } | null
  _cryptoSyncPattern: unknown
  _pePending: boolean
  _processBuffer(): void
}

/** The Wire's message parsers, which {@link FramedWire} checks before they run. */
interface WireMessages {
  _onMessageLength(buffer: Uint8Array): void
  _onMessage(buffer: Uint8Array): void
}

type WriteCallback = (err: Error | null) => void

const wireMessages = Wire.prototype as unknown as WireMessages

/**
 * bittorrent-protocol's Wire with a cheaper receive path and checked messages.
 *
 * Receive path: the Wire joins whatever it holds with each chunk that arrives: with a message cut at
 * the end of every 64 KiB TCP read, that copies every byte received once more, in a new 64 KiB+
 * buffer (garbage for the collector). Here a message cut in two is completed from the next chunk with
 * just the bytes it lacks, and the rest of the chunk is parsed in place. While an MSE/PE handshake is
 * under way or the stream is RC4-encrypted, the original path runs (it decrypts and resynchronises).
 *
 * Checks: every length prefix and message is held to the same limits as the PeerMessageFramer in
 * front of plaintext wires (wire-guard.ts), here after any decryption, so a peer that negotiated
 * encryption gets no more room: a DecodeError is thrown before the Wire waits for an oversized body
 * or reads a fixed-size message of another size. Extended messages are vetted before the `bencode`
 * package decodes them (extended-message-check.ts).
 */
export class FramedWire extends Wire {
  override _write(data: Uint8Array, cb: WriteCallback): void {
    const w = this as unknown as WireParser
    if (negotiatingOrEncrypted(w)) {
      super._write(data, cb)
      return
    }
    while (w._bufferSize > 0 && data.length > 0) {
      const need = w._parserSize - w._bufferSize
      // Still short of a whole message (or its length): the Wire's own path joins the two.
      if (need > data.length) {
        super._write(data, cb)
        return
      }
      const held = w._buffer.length === 1 ? w._buffer[0]! : Buffer.concat(w._buffer)
      const message = new Uint8Array(w._parserSize)
      message.set(held.subarray(0, w._bufferSize))
      message.set(data.subarray(0, need), w._bufferSize)
      data = data.subarray(need)
      w._buffer = []
      w._bufferSize = 0
      w._parser(message)
      // A PE step may have started with that message: hand the rest to the original path.
      if (negotiatingOrEncrypted(w)) {
        super._write(data, cb)
        return
      }
    }
    if (data.length > 0) {
      w._buffer = [data]
      w._bufferSize = data.length
    }
    w._processBuffer()
    cb(null)
  }

  _onMessageLength(buffer: Uint8Array): void {
    checkPeerMessageLength(((buffer[0]! << 24) | (buffer[1]! << 16) | (buffer[2]! << 8) | buffer[3]!) >>> 0)
    wireMessages._onMessageLength.call(this, buffer)
  }

  _onMessage(buffer: Uint8Array): void {
    checkPeerMessage(buffer[0]!, buffer.length)
    // checkPeerMessage guarantees an extended message its id byte.
    if (buffer[0] === 20)
      checkExtendedMessage(buffer[1]!, this.extendedMapping[buffer[1]!], buffer.subarray(2))
    wireMessages._onMessage.call(this, buffer)
  }
}

function negotiatingOrEncrypted(w: WireParser): boolean {
  return Boolean(w._cryptoSyncPattern) || w._pePending || w._encryptor?._isEncrypted === true
}
