import type { UdpAddress } from '../datagram-socket.js'
import type { RendezvousErrorName, WireNatClass } from './rendezvous-messages.js'

/** The relay's inputs and outputs (protocol/rendezvous/rendezvous-relay.ts). */

export interface RegisteredPeer {
  infoHash: Uint8Array
  peerId: Uint8Array
  endpoint: UdpAddress
  lan?: UdpAddress
  natClass: WireNatClass
  rttMs: number
  lastSeen: number
}

export type RelayEvent =
  | { type: 'registered'; peer: RegisteredPeer }
  | { type: 'expired'; peer: RegisteredPeer }
  | { type: 'relayed'; infoHash: Uint8Array; from: Uint8Array; to: Uint8Array }
  | { type: 'refused'; reason: RendezvousErrorName; from: UdpAddress }
  | { type: 'punchResult'; infoHash: Uint8Array; success: boolean; elapsedMs: number }

export interface RelayOutput {
  /** `fromAltPort`: send from the tracker's alternate port (answers to change-port binding-requests). */
  sends: { bytes: Uint8Array; to: UdpAddress; fromAltPort?: boolean }[]
  events: RelayEvent[]
}

/** The fields a token is checked against. */
export interface TokenFields {
  infoHash: Uint8Array
  peerId: Uint8Array
  token: Uint8Array
}

/** A connect-request from `GET /connect`. */
export interface HttpConnectRequest extends TokenFields {
  targetPeerId: Uint8Array
  /** The HTTP source address (the address the token was issued to). */
  ip: string
  /** Bytes of the HTTP request: the pushes for it may not add up to more. */
  receivedBytes: number
}

export interface ConnectInput extends TokenFields {
  targetPeerId: Uint8Array
  /** The requester's public UDP endpoint: where the target will punch to. */
  requester: UdpAddress
  requesterLan?: UdpAddress
  natClass: WireNatClass
  rttMs: number
  receivedBytes: number
  /** Set for UDP: answer with a connect-ack datagram carrying this transaction id. */
  ackTxid?: number
}

/** What the requester learns: the target's endpoints and class, when to start, and the punch's nonce. */
export interface ConnectAnswer {
  type: 'relayed'
  target: UdpAddress
  targetLan?: UdpAddress
  targetNatClass: WireNatClass
  punchDelayMs: number
  nonce: Uint8Array
}

export type ConnectResult = ConnectAnswer | { type: 'refused'; code: RendezvousErrorName; message: string }
