import type { UdpAddress } from '../datagram-socket.js'
import { DecodeError } from '../errors.js'
import { bytesToIp, ipToBytes } from '../ip-address.js'
import { isRendezvous, RENDEZVOUS_MAGIC } from '../udp-framing.js'
import { ByteReader, ByteWriter } from './byte-cursor.js'
import {
  BINDING_FLAG_CHANGE_PORT,
  BINDING_REQUEST_MIN_BYTES,
  CONNECT_REQUEST_MIN_BYTES,
  MESSAGE_TYPES,
  NAT_CLASS_CODES,
  PUNCH_FLAG_ACK,
  RENDEZVOUS_ERROR_CODES,
  type RendezvousErrorName,
  type RendezvousMessage,
  type WireNatClass,
} from './rendezvous-messages.js'

/** Header: magic (4), type (1), flags (1), transaction id (4). */
export const RENDEZVOUS_HEADER_BYTES = 10
/** Largest rendezvous datagram either side accepts. */
export const RENDEZVOUS_MAX_BYTES = 1200
const MAX_TOKEN_BYTES = 64
const MAX_ERROR_TEXT_BYTES = 200
const ID_BYTES = 20
const NONCE_BYTES = 8

const TYPE_NAMES = new Map<number, RendezvousMessage['type']>(
  Object.entries(MESSAGE_TYPES).map(([name, code]) => [code, name as RendezvousMessage['type']]),
)
const NAT_NAMES = new Map<number, WireNatClass>(
  Object.entries(NAT_CLASS_CODES).map(([name, code]) => [code, name as WireNatClass]),
)
const ERROR_NAMES = new Map<number, RendezvousErrorName>(
  Object.entries(RENDEZVOUS_ERROR_CODES).map(([name, code]) => [code, name as RendezvousErrorName]),
)

function writeEndpoint(w: ByteWriter, a: UdpAddress | undefined): void {
  if (!a) {
    w.u8(0)
    return
  }
  const ip = ipToBytes(a.address)
  w.u8(ip.length === 4 ? 4 : 6)
    .bytes(ip)
    .u16(a.port)
}

function readEndpoint(r: ByteReader): UdpAddress | undefined {
  const fam = r.u8('endpoint family')
  if (fam === 0) return undefined
  if (fam !== 4 && fam !== 6) throw new DecodeError('DECODE_BAD_VALUE', `endpoint family ${fam}`)
  const address = bytesToIp(r.bytes(fam === 4 ? 4 : 16, 'endpoint address'))
  const port = r.u16('endpoint port')
  if (port === 0) throw new DecodeError('DECODE_BAD_VALUE', 'endpoint port 0')
  return { address, port, family: fam === 4 ? 'IPv4' : 'IPv6' }
}

function requireEndpoint(r: ByteReader, what: string): UdpAddress {
  const a = readEndpoint(r)
  if (!a) throw new DecodeError('DECODE_BAD_VALUE', `missing ${what} endpoint`)
  return a
}

function readNat(r: ByteReader): WireNatClass {
  const c = r.u8('nat class')
  const name = NAT_NAMES.get(c)
  if (!name) throw new DecodeError('DECODE_BAD_VALUE', `nat class ${c}`)
  return name
}

function readToken(r: ByteReader): Uint8Array {
  const n = r.u8('token length')
  if (n === 0 || n > MAX_TOKEN_BYTES) throw new DecodeError('DECODE_BAD_VALUE', `token length ${n}`)
  return r.bytes(n, 'token')
}

function checkId(b: Uint8Array, what: string): void {
  if (b.length !== ID_BYTES) throw new DecodeError('DECODE_BAD_VALUE', `${what} must be 20 bytes`)
}

/** Encodes one rendezvous message. Connect-requests are padded to CONNECT_REQUEST_MIN_BYTES. */
export function encodeRendezvous(m: RendezvousMessage): Uint8Array {
  const w = new ByteWriter(m.type === 'connectRequest' ? CONNECT_REQUEST_MIN_BYTES : 96)
  let flags = 0
  if (m.type === 'bindingRequest' && m.changePort) flags |= BINDING_FLAG_CHANGE_PORT
  if (m.type === 'punch' && m.ack) flags |= PUNCH_FLAG_ACK
  w.bytes(RENDEZVOUS_MAGIC).u8(MESSAGE_TYPES[m.type]).u8(flags).u32(m.txid)
  switch (m.type) {
    case 'bindingRequest':
      w.padTo(BINDING_REQUEST_MIN_BYTES)
      break
    case 'pushAck':
    case 'resultAck':
      break
    case 'bindingResponse':
      writeEndpoint(w, m.observed)
      break
    case 'register':
      checkId(m.infoHash, 'info hash')
      checkId(m.peerId, 'peer id')
      w.bytes(m.infoHash).bytes(m.peerId).u8(m.token.length).bytes(m.token)
      writeEndpoint(w, m.lan)
      w.u8(NAT_CLASS_CODES[m.natClass]).u16(Math.min(0xffff, Math.round(m.rttMs)))
      break
    case 'registerAck':
      writeEndpoint(w, m.observed)
      w.u16(m.keepaliveSeconds)
      break
    case 'connectRequest':
      checkId(m.infoHash, 'info hash')
      checkId(m.peerId, 'peer id')
      checkId(m.targetPeerId, 'target peer id')
      w.bytes(m.infoHash).bytes(m.peerId).u8(m.token.length).bytes(m.token).bytes(m.targetPeerId)
      writeEndpoint(w, m.lan)
      w.u8(NAT_CLASS_CODES[m.natClass]).u16(Math.min(0xffff, Math.round(m.rttMs)))
      w.padTo(CONNECT_REQUEST_MIN_BYTES)
      break
    case 'connectAck':
      writeEndpoint(w, m.target)
      writeEndpoint(w, m.targetLan)
      w.u8(NAT_CLASS_CODES[m.targetNatClass]).u16(m.punchDelayMs).bytes(m.nonce)
      break
    case 'connectPush':
      checkId(m.infoHash, 'info hash')
      checkId(m.requesterPeerId, 'requester peer id')
      w.bytes(m.infoHash).bytes(m.requesterPeerId)
      writeEndpoint(w, m.requester)
      writeEndpoint(w, m.requesterLan)
      w.u8(NAT_CLASS_CODES[m.requesterNatClass]).u16(m.punchDelayMs).bytes(m.nonce)
      break
    case 'punch':
      checkId(m.peerId, 'peer id')
      w.bytes(m.nonce).bytes(m.peerId)
      break
    case 'punchResult':
      checkId(m.infoHash, 'info hash')
      w.bytes(m.infoHash)
        .bytes(m.nonce)
        .u8(m.success ? 1 : 2)
        .u32(m.elapsedMs)
      break
    case 'error': {
      const text = new TextEncoder().encode(m.message).subarray(0, MAX_ERROR_TEXT_BYTES)
      w.u16(RENDEZVOUS_ERROR_CODES[m.code]).u16(text.length).bytes(text)
      break
    }
  }
  return w.finish()
}

/** Decodes one rendezvous datagram, or throws DecodeError; never returns a half-parsed message. */
export function decodeRendezvous(b: Uint8Array): RendezvousMessage {
  if (b.length > RENDEZVOUS_MAX_BYTES) throw new DecodeError('DECODE_OVERSIZED', `${b.length} bytes`)
  if (b.length < RENDEZVOUS_HEADER_BYTES) throw new DecodeError('DECODE_TRUNCATED', 'truncated header')
  if (!isRendezvous(b)) throw new DecodeError('DECODE_BAD_MAGIC', 'not a rendezvous message')
  const r = new ByteReader(b, 4)
  const code = r.u8()
  const flags = r.u8()
  const txid = r.u32()
  const type = TYPE_NAMES.get(code)
  if (!type) throw new DecodeError('DECODE_BAD_VALUE', `message type ${code}`)
  const nonce = () => r.bytes(NONCE_BYTES, 'nonce')
  const id = (what: string) => r.bytes(ID_BYTES, what)
  switch (type) {
    case 'bindingRequest':
      if (b.length < BINDING_REQUEST_MIN_BYTES) {
        throw new DecodeError(
          'DECODE_TRUNCATED',
          `binding-request shorter than ${BINDING_REQUEST_MIN_BYTES} bytes`,
        )
      }
      return { type, txid, changePort: (flags & BINDING_FLAG_CHANGE_PORT) !== 0 }
    case 'pushAck':
    case 'resultAck':
      return { type, txid }
    case 'bindingResponse':
      return { type, txid, observed: requireEndpoint(r, 'observed') }
    case 'register':
      return {
        type,
        txid,
        infoHash: id('info hash'),
        peerId: id('peer id'),
        token: readToken(r),
        lan: readEndpoint(r),
        natClass: readNat(r),
        rttMs: r.u16('rtt'),
      }
    case 'registerAck':
      return { type, txid, observed: requireEndpoint(r, 'observed'), keepaliveSeconds: r.u16('keepalive') }
    case 'connectRequest': {
      if (b.length < CONNECT_REQUEST_MIN_BYTES) {
        throw new DecodeError(
          'DECODE_TRUNCATED',
          `connect-request shorter than ${CONNECT_REQUEST_MIN_BYTES} bytes`,
        )
      }
      const infoHash = id('info hash')
      const peerId = id('peer id')
      const token = readToken(r)
      const targetPeerId = id('target peer id')
      const lan = readEndpoint(r)
      return {
        type,
        txid,
        infoHash,
        peerId,
        token,
        targetPeerId,
        lan,
        natClass: readNat(r),
        rttMs: r.u16('rtt'),
      }
    }
    case 'connectAck':
      return {
        type,
        txid,
        target: requireEndpoint(r, 'target'),
        targetLan: readEndpoint(r),
        targetNatClass: readNat(r),
        punchDelayMs: r.u16('punch delay'),
        nonce: nonce(),
      }
    case 'connectPush':
      return {
        type,
        txid,
        infoHash: id('info hash'),
        requesterPeerId: id('requester peer id'),
        requester: requireEndpoint(r, 'requester'),
        requesterLan: readEndpoint(r),
        requesterNatClass: readNat(r),
        punchDelayMs: r.u16('punch delay'),
        nonce: nonce(),
      }
    case 'punch':
      return { type, txid, ack: (flags & PUNCH_FLAG_ACK) !== 0, nonce: nonce(), peerId: id('peer id') }
    case 'punchResult': {
      const infoHash = id('info hash')
      const n = nonce()
      const outcome = r.u8('outcome')
      if (outcome !== 1 && outcome !== 2)
        throw new DecodeError('DECODE_BAD_VALUE', `punch outcome ${outcome}`)
      return { type, txid, infoHash, nonce: n, success: outcome === 1, elapsedMs: r.u32('elapsed') }
    }
    case 'error': {
      const ec = r.u16('error code')
      const name = ERROR_NAMES.get(ec)
      if (!name) throw new DecodeError('DECODE_BAD_VALUE', `error code ${ec}`)
      const len = r.u16('error text length')
      if (len > MAX_ERROR_TEXT_BYTES) throw new DecodeError('DECODE_OVERSIZED', 'error text')
      return { type, txid, code: name, message: new TextDecoder().decode(r.bytes(len, 'error text')) }
    }
  }
}
