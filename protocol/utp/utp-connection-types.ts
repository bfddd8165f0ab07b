import type { TransportError } from '../errors.js'

/** What a uTP connection needs from its shell: a clock, a way to send, and somewhere to report. */
export interface UtpConnectionHost {
  /** Milliseconds, monotonic (the injected Clock's `now`). */
  now(): number
  /** Sends one packet to the peer. */
  send(packet: Uint8Array): void
  /** Asks the shell to call `flush()` once the current batch of input is handled (coalesces acks). */
  requestFlush(): void
  /** The initiator's SYN was answered. */
  onConnect(): void
  /** In-order payload. The chunk is only valid until this call returns unless the shell keeps it. */
  onData(chunk: Uint8Array): void
  /** The peer's FIN arrived and everything before it was delivered. */
  onEnd(): void
  /** The send buffer fell below its limit: writes may resume. */
  onDrain(): void
  /** Our FIN was acknowledged: everything we wrote arrived. */
  onFinish(): void
  /** The connection is over; `error` is set unless both sides closed cleanly or we destroyed it. */
  onClose(error?: TransportError): void
  /** Bytes delivered by `onData` that the application has not read yet (they shrink our window). */
  readBacklog(): number
}

export interface UtpConnectionOptions {
  /** Payload bytes per packet. 1400 keeps a packet under a 1500-byte MTU with IPv6 and tunnel headers. */
  mss?: number
  /**
   * Receive window, bytes: data delivered but unread plus data held for reordering. It also caps what
   * the sender may have in flight, and so how deep a queue it can build in our socket's receive
   * buffer when we are the slower side: past what that buffer holds, a slow start's burst is dropped
   * wholesale, more than a selective ack can describe, and only the retransmission timeout recovers.
   */
  recvWindow?: number
  /** Unsent bytes buffered before `write` reports backpressure. */
  sendBuffer?: number
  /** No ack progress for this long while data is outstanding: the peer is gone. */
  timeoutMs?: number
  /** SYN unanswered for this long: the connect fails. */
  connectTimeoutMs?: number
  /** An idle connection sends a STATE this often, which also keeps a punched NAT mapping open. */
  keepaliveMs?: number
  /** LEDBAT's target queuing delay, microseconds. */
  targetDelayUs?: number
}

export const UTP_DEFAULTS = {
  mss: 1400,
  // libtorrent's default peer receive buffer (max_peer_recv_buffer_size) is the same 2 MiB. At 4 MiB a
  // loopback transfer overflowed a 4 MiB socket buffer in slow start and hit a timeout in 3 of 6 runs.
  recvWindow: 2 * 1024 * 1024,
  sendBuffer: 512 * 1024,
  timeoutMs: 20_000,
  connectTimeoutMs: 10_000,
  keepaliveMs: 15_000,
} as const

export type UtpState = 'syn-sent' | 'connected' | 'closed'

/** Counters a shell can report (and tests assert on). */
export interface UtpConnectionStats {
  packetsSent: number
  packetsReceived: number
  retransmits: number
  fastRetransmits: number
  /** Fast retransmits later shown unnecessary (the original was only reordered); their window cut is undone. */
  spuriousRetransmits: number
  timeouts: number
  duplicatesReceived: number
  /** Packets ignored as out of range (an ack of something never sent, a sequence number far ahead). */
  dropped: number
  bytesSent: number
  bytesReceived: number
}
