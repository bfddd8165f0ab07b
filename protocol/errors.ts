/**
 * One error hierarchy for the whole project. Every error carries a `code` that says what went wrong;
 * tests and callers branch on `code`, never on message text. Cancellation is not wrapped: an aborted
 * operation rethrows `signal.reason` (AbortError / TimeoutError) untouched.
 */

export type DecodeErrorCode =
  | 'DECODE_TRUNCATED'
  | 'DECODE_OVERSIZED'
  | 'DECODE_BAD_VALUE'
  | 'DECODE_BAD_MAGIC'
  | 'DECODE_BAD_BENCODE'
  | 'DECODE_BAD_QUERY'

export type ProtocolErrorCode =
  | 'PROTOCOL_ILLEGAL_TRANSITION'
  | 'PROTOCOL_UNEXPECTED_MESSAGE'
  | 'PROTOCOL_BAD_CONNECTION_ID'
  | 'PROTOCOL_PEER_MISBEHAVED'
  | 'PROTOCOL_HASH_MISMATCH'

export type TrackerErrorCode =
  | 'TRACKER_BAD_REQUEST'
  | 'TRACKER_RATE_LIMITED'
  | 'TRACKER_FAILURE_REASON'
  | 'TRACKER_UNREACHABLE'
  | 'TRACKER_BAD_RESPONSE'
  | 'TRACKER_CONNECTION_ID_EXPIRED'
  | 'TRACKER_CAPACITY'
  | 'TRACKER_PEER_ID_TAKEN'

export type PunchErrorCode =
  | 'PUNCH_TIMEOUT'
  | 'PUNCH_NEEDS_RELAY'
  | 'PUNCH_TARGET_UNKNOWN'
  | 'PUNCH_REFUSED'
  | 'PUNCH_TOKEN_INVALID'
  | 'PUNCH_DUPLICATE'

export type TransportErrorCode =
  | 'TRANSPORT_TIMEOUT'
  | 'TRANSPORT_RESET'
  | 'TRANSPORT_CLOSED'
  | 'TRANSPORT_REFUSED'
  | 'TRANSPORT_SOCKET_ERROR'

export type StorageErrorCode =
  | 'STORAGE_IO'
  | 'STORAGE_BAD_RESUME'
  | 'STORAGE_BAD_LAYOUT'
  | 'STORAGE_PIECE_UNAVAILABLE'

export type UsageErrorCode =
  | 'USAGE_BAD_ARGUMENT'
  | 'USAGE_BAD_TORRENT'
  | 'USAGE_BAD_MAGNET'
  | 'USAGE_NO_PEERS'
  | 'USAGE_NOT_FOUND'

export type PunchswarmErrorCode =
  | DecodeErrorCode
  | ProtocolErrorCode
  | TrackerErrorCode
  | PunchErrorCode
  | TransportErrorCode
  | StorageErrorCode
  | UsageErrorCode

/** Base of every error punchswarm throws on purpose. */
export class PunchswarmError<C extends PunchswarmErrorCode = PunchswarmErrorCode> extends Error {
  readonly code: C
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** Bytes from the network or disk that do not parse: truncated, oversized or out of range. */
export class DecodeError extends PunchswarmError<DecodeErrorCode> {}

/** A well-formed message that is illegal in the current state. */
export class ProtocolError extends PunchswarmError<ProtocolErrorCode> {}

/** A tracker refused or failed a request; `message` is the failure-reason text a client sees. */
export class TrackerError extends PunchswarmError<TrackerErrorCode> {}

/** Hole punching could not open a path. */
export class PunchError extends PunchswarmError<PunchErrorCode> {}

/** A transport (uTP, TCP, UDP socket) failed or closed. */
export class TransportError extends PunchswarmError<TransportErrorCode> {}

/** Disk layout, resume data or piece storage failed. */
export class StorageError extends PunchswarmError<StorageErrorCode> {}

/** Bad input from a user of the CLI or API (unreadable torrent, bad magnet, bad flag). */
export class UsageError extends PunchswarmError<UsageErrorCode> {}

/** Throws `signal.reason` if the signal is aborted: the `isDone` guard after every await. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason
}
