import Wire from 'bittorrent-protocol'

/** The parser state of bittorrent-protocol 5's Wire that {@link FramedWire} works with. */
interface WireParser {
  _buffer: Uint8Array[]
  _bufferSize: number
  _parserSize: number
  _parser: (message: Uint8Array) => void
  _encryptor: unknown
  _cryptoSyncPattern: unknown
  _pePending: boolean
  _processBuffer(): void
}

type WriteCallback = (err: Error | null) => void

/**
 * bittorrent-protocol's Wire with a cheaper receive path. The Wire joins whatever it holds with each
 * chunk that arrives: with a message cut at the end of every 64 KiB TCP read, that copies every byte
 * received once more, in a new 64 KiB+ buffer (garbage for the collector). Here a message cut in two
 * is completed from the next chunk with just the bytes it lacks, and the rest of the chunk is parsed
 * in place. Encrypted wires (BEP 8 / MSE, unused by punchswarm) keep the original path.
 */
export class FramedWire extends Wire {
  override _write(data: Uint8Array, cb: WriteCallback): void {
    const w = this as unknown as WireParser
    if (w._encryptor || w._cryptoSyncPattern || w._pePending) {
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
      // A handler may have switched to an encrypted stream: hand the rest to the original path.
      if (w._encryptor || w._cryptoSyncPattern || w._pePending) {
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
}
