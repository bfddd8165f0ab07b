import { DecodeError } from '../errors.js'

/**
 * Checks the framing of a peer's byte stream (BEP 3 handshake, then length-prefixed messages) before
 * bittorrent-protocol's Wire parses it. The Wire buffers whatever length prefix it reads, so a peer
 * announcing a 4 GiB message could make it hold gigabytes, and it reads fixed-size messages
 * without checking their length. This framer refuses both with a DecodeError, keeping only a few
 * bytes of state: it never buffers a message.
 */

/** Bytes of the BEP 3 handshake: pstrlen, "BitTorrent protocol", 8 reserved, info hash, peer id. */
export const HANDSHAKE_BYTES = 68
/**
 * Largest message accepted. The biggest legitimate ones are a bitfield (the 64 MiB .torrent limit
 * allows ~3.3 million pieces: a 420 KB bitfield) and a piece message for a block (we serve at most
 * 128 KiB); libtorrent's receive buffer limit is of the same order.
 */
export const MAX_PEER_MESSAGE_BYTES = 1024 * 1024

const PROTOCOL = 'BitTorrent protocol'

/**
 * Exact payload lengths (id byte included) of the fixed-size messages: BEP 3 (0-9), BEP 6 fast
 * extension (0x0d-0x11). Variable ones have a minimum instead; unknown ids are allowed (BEP 3 asks
 * that they be ignored) up to the size limit.
 */
const EXACT_LENGTH = new Map<number, number>([
  [0, 1], // choke
  [1, 1], // unchoke
  [2, 1], // interested
  [3, 1], // not interested
  [4, 5], // have
  [6, 13], // request
  [8, 13], // cancel
  [9, 3], // port
  [0x0d, 5], // suggest
  [0x0e, 1], // have all
  [0x0f, 1], // have none
  [0x10, 13], // reject
  [0x11, 5], // allowed fast
])
const MIN_LENGTH = new Map<number, number>([
  [5, 1], // bitfield
  [7, 9], // piece: index, begin, block
  [20, 2], // extended (BEP 10): extension id, payload
])

/** Throws DecodeError for a length prefix over {@link MAX_PEER_MESSAGE_BYTES}. */
export function checkPeerMessageLength(length: number): void {
  if (length > MAX_PEER_MESSAGE_BYTES) {
    throw new DecodeError(
      'DECODE_OVERSIZED',
      `peer message of ${length} bytes (limit ${MAX_PEER_MESSAGE_BYTES})`,
    )
  }
}

/** Throws DecodeError when a message of id `id` cannot be `length` bytes long (id byte included). */
export function checkPeerMessage(id: number, length: number): void {
  const exact = EXACT_LENGTH.get(id)
  if ((exact !== undefined && length !== exact) || length < (MIN_LENGTH.get(id) ?? 1)) {
    throw new DecodeError('DECODE_BAD_VALUE', `peer message ${id} of ${length} bytes`)
  }
}

type State = 'handshake' | 'length' | 'id' | 'body'

/** One peer connection's inbound framing; `push` each chunk as it arrives. */
export class PeerMessageFramer {
  private state: State = 'handshake'
  /** Body bytes still expected in the current message. */
  private need = 0
  /** Handshake bytes seen so far. */
  private handshakeAt = 0
  private length = 0
  private lengthBytes = 0
  private id = 0
  /** First byte after the id (an extended message's extension id), -1 if none yet. */
  private sub = -1
  /** Complete messages seen (keep-alives included), for tests and logs. */
  messages = 0
  /** After `push` threw: how many bytes of that chunk came before the offending byte. */
  failedAt = 0

  /**
   * `onMessage` hears each complete message's id, length and first byte after the id (for an
   * extended message, BEP 10, its extension id; -1 when the message has none). Not keep-alives.
   */
  constructor(private readonly onMessage?: (id: number, length: number, sub: number) => void) {}

  /**
   * Checks the next chunk of the stream; throws DecodeError at the first byte that breaks framing
   * (`failedAt` then says where, so the valid bytes before it can still be parsed).
   */
  push(chunk: Uint8Array): void {
    this.at = 0
    try {
      this.scan(chunk)
    } catch (err) {
      this.failedAt = this.at
      throw err
    }
  }

  /** Where in the current chunk the byte being checked is. */
  private at = 0

  private scan(chunk: Uint8Array): void {
    let i = 0
    while (i < chunk.length) {
      this.at = i
      switch (this.state) {
        case 'handshake': {
          const b = chunk[i]!
          const at = this.handshakeAt++
          if (at === 0 && b !== PROTOCOL.length)
            throw new DecodeError('DECODE_BAD_MAGIC', `handshake pstrlen ${b}, not 19`)
          if (at >= 1 && at <= PROTOCOL.length && b !== PROTOCOL.charCodeAt(at - 1))
            throw new DecodeError('DECODE_BAD_MAGIC', 'handshake is not "BitTorrent protocol"')
          i++
          if (this.handshakeAt === HANDSHAKE_BYTES) this.expectLength()
          break
        }
        case 'length': {
          this.length = this.length * 256 + chunk[i++]!
          if (++this.lengthBytes < 4) break
          checkPeerMessageLength(this.length)
          if (this.length === 0) {
            this.messages++
            this.expectLength()
          } else {
            this.state = 'id'
          }
          break
        }
        case 'id': {
          const id = chunk[i++]!
          this.id = id
          this.sub = -1
          checkPeerMessage(id, this.length)
          this.need = this.length - 1
          this.state = 'body'
          if (this.need === 0) this.endMessage()
          break
        }
        case 'body': {
          if (this.need === this.length - 1) this.sub = chunk[i]!
          const take = Math.min(this.need, chunk.length - i)
          i += take
          this.need -= take
          if (this.need === 0) this.endMessage()
          break
        }
      }
    }
  }

  private endMessage(): void {
    this.messages++
    this.onMessage?.(this.id, this.length, this.sub)
    this.expectLength()
  }

  private expectLength(): void {
    this.state = 'length'
    this.length = 0
    this.lengthBytes = 0
  }
}
