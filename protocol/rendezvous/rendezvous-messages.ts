import type { UdpAddress } from '../datagram-socket.js'

/**
 * The rendezvous protocol's messages (docs/protocol/connect-request.md). Every message starts with
 * RENDEZVOUS_MAGIC, a type byte, a flags byte and a 32-bit transaction id that an answer echoes.
 */

/** NAT class on the wire. */
export const NAT_CLASS_CODES = {
  unknown: 0,
  public: 1,
  cone: 2,
  symmetric: 3,
  firewalled: 4,
  blocked: 5,
} as const
export type WireNatClass = keyof typeof NAT_CLASS_CODES

export const MESSAGE_TYPES = {
  bindingRequest: 0x01,
  register: 0x02,
  connectRequest: 0x03,
  connectPush: 0x04,
  punch: 0x05,
  punchResult: 0x06,
  bindingResponse: 0x81,
  registerAck: 0x82,
  connectAck: 0x83,
  pushAck: 0x84,
  resultAck: 0x86,
  error: 0x7f,
} as const

/** Error codes carried in `error` messages. */
export const RENDEZVOUS_ERROR_CODES = {
  malformed: 1,
  badToken: 2,
  notRegistered: 3,
  notInSwarm: 4,
  rateLimited: 5,
  needsRelay: 6,
  tooSmall: 7,
} as const
export type RendezvousErrorName = keyof typeof RENDEZVOUS_ERROR_CODES

/**
 * A connect-request must be padded to at least this many bytes. The tracker answers it with one ack
 * and at most PUSH_MAX_SENDS pushes, each smaller than a third of this, so what it sends for a request
 * never exceeds what it received for it: the relay is no amplifier.
 */
export const CONNECT_REQUEST_MIN_BYTES = 400

/**
 * Binding-requests are padded to this size: the answer (at most 29 bytes with an IPv6 endpoint) is
 * then never larger than the request, so a spoofed request cannot aim more bytes at a third party.
 */
export const BINDING_REQUEST_MIN_BYTES = 32

/** Pushes are retried until acknowledged, at most this many sends in all. */
export const PUSH_MAX_SENDS = 3

/** Binding-request flag: answer from the tracker's alternate port (reachability test). */
export const BINDING_FLAG_CHANGE_PORT = 0x01
/** Punch flag: this probe answers one received from the peer. */
export const PUNCH_FLAG_ACK = 0x01

export interface BindingRequest {
  type: 'bindingRequest'
  txid: number
  changePort: boolean
}
export interface BindingResponse {
  type: 'bindingResponse'
  txid: number
  /** The source address the tracker saw: the sender's public (server-reflexive) endpoint. */
  observed: UdpAddress
}
export interface Register {
  type: 'register'
  txid: number
  infoHash: Uint8Array
  peerId: Uint8Array
  /** Issued in the announce response, bound to peer id, address, info hash and expiry. */
  token: Uint8Array
  /** The peer's own socket address, for peers behind the same public address. */
  lan?: UdpAddress
  natClass: WireNatClass
  /** Round trip to the tracker as the peer measured it, in ms. */
  rttMs: number
}
export interface RegisterAck {
  type: 'registerAck'
  txid: number
  observed: UdpAddress
  keepaliveSeconds: number
}
export interface ConnectRequest {
  type: 'connectRequest'
  txid: number
  infoHash: Uint8Array
  peerId: Uint8Array
  token: Uint8Array
  targetPeerId: Uint8Array
  lan?: UdpAddress
  natClass: WireNatClass
  rttMs: number
}
export interface ConnectAck {
  type: 'connectAck'
  txid: number
  target: UdpAddress
  targetLan?: UdpAddress
  targetNatClass: WireNatClass
  /** Wait this long before the first probe, so both sides start together. */
  punchDelayMs: number
  nonce: Uint8Array
}
export interface ConnectPush {
  type: 'connectPush'
  txid: number
  infoHash: Uint8Array
  requesterPeerId: Uint8Array
  requester: UdpAddress
  requesterLan?: UdpAddress
  requesterNatClass: WireNatClass
  punchDelayMs: number
  nonce: Uint8Array
}
export interface PushAck {
  type: 'pushAck'
  txid: number
}
export interface Punch {
  type: 'punch'
  txid: number
  ack: boolean
  nonce: Uint8Array
  peerId: Uint8Array
}
export interface PunchResult {
  type: 'punchResult'
  txid: number
  infoHash: Uint8Array
  nonce: Uint8Array
  success: boolean
  elapsedMs: number
}
export interface ResultAck {
  type: 'resultAck'
  txid: number
}
export interface RendezvousErrorMessage {
  type: 'error'
  txid: number
  code: RendezvousErrorName
  message: string
}

export type RendezvousMessage =
  | BindingRequest
  | BindingResponse
  | Register
  | RegisterAck
  | ConnectRequest
  | ConnectAck
  | ConnectPush
  | PushAck
  | Punch
  | PunchResult
  | ResultAck
  | RendezvousErrorMessage
