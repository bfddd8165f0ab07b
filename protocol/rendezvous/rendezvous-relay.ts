import type { Random } from '../clock.js'
import { addressKey, type UdpAddress } from '../datagram-socket.js'
import { DecodeError } from '../errors.js'
import { AnswerCache } from './answer-cache.js'
import { addressLimitKey, KeyedRateLimiter } from './rate-limiter.js'
import { issueRegisterToken, verifyRegisterToken } from './register-token.js'
import type {
  ConnectAnswer,
  ConnectInput,
  ConnectResult,
  HttpConnectRequest,
  RegisteredPeer,
  RelayOutput,
  TokenFields,
} from './relay-types.js'
import { decodeRendezvous, encodeRendezvous } from './rendezvous-codec.js'
import {
  type ConnectPush,
  type ConnectRequest,
  PUSH_MAX_SENDS,
  type Register,
  type RendezvousErrorName,
  type RendezvousMessage,
} from './rendezvous-messages.js'

/** docs/protocol/connect-request.md, Timers. */
export const KEEPALIVE_INTERVAL_MS = 15_000
export const REGISTRATION_TTL_MS = 60_000
export const PUSH_RETRY_MS = 500
/** Most punch nonces remembered for their results. */
const MAX_NONCES = 1_000_000
/** How long a punch's outcome may still be reported. */
const NONCE_TTL_MS = 60_000
/** A resent connect-request within this long gets the first ack again (the client's resends span ~3 s). */
const ANSWER_TTL_MS = 10_000
const MAX_ANSWERS = 65_536

export type {
  ConnectAnswer,
  ConnectResult,
  HttpConnectRequest,
  RegisteredPeer,
  RelayEvent,
  RelayOutput,
} from './relay-types.js'

export interface RendezvousRelayOptions {
  /** HMAC key for registration tokens. */
  secret: Uint8Array
  /** How long an issued token stays valid. @default 3_600_000 */
  tokenTtlMs?: number
  /** Connect-requests per second per requester address. @default 5 */
  requesterRate?: number
  /** Connect-requests per second aimed at one target peer. @default 5 */
  targetRate?: number
  /**
   * Most registrations kept; a new one beyond it evicts the one with the oldest keepalive (peers
   * that keep their registrations alive are never the oldest). @default 1_000_000
   */
  maxRegistrations?: number
}

interface PendingPush {
  bytes: Uint8Array
  to: UdpAddress
  sends: number
  due: number
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const regKey = (infoHash: Uint8Array, peerId: Uint8Array) => hex(infoHash) + hex(peerId)

/**
 * The tracker side of the rendezvous protocol as a pure state machine: datagrams and time in, datagrams
 * to send and events out. It keeps token-verified registrations, relays connect-requests between peers
 * of one swarm, retries pushes until acknowledged, and never sends more bytes for a request than the
 * request carried (docs/protocol/connect-request.md, Abuse resistance).
 */
export class RendezvousRelay {
  /** Every registration, in order of last keepalive (oldest first): expiry stops at the first fresh one. */
  private readonly registry = new Map<string, RegisteredPeer>()
  /** Registration keys by swarm, for the announce extension. */
  private readonly bySwarm = new Map<string, Set<string>>()
  private readonly pushes = new Map<number, PendingPush>()
  /** Nonces this relay issued, by hex, with when they were issued: a result counts once, and only for these. */
  private readonly nonces = new Map<string, number>()
  private readonly answers = new AnswerCache(ANSWER_TTL_MS, MAX_ANSWERS)
  private readonly requesterLimit: KeyedRateLimiter
  private readonly targetLimit: KeyedRateLimiter
  private readonly tokenTtlMs: number

  constructor(
    private readonly options: RendezvousRelayOptions,
    private readonly deps: { random: Random },
  ) {
    this.tokenTtlMs = options.tokenTtlMs ?? 3_600_000
    this.requesterLimit = new KeyedRateLimiter(options.requesterRate ?? 5, (options.requesterRate ?? 5) * 2)
    this.targetLimit = new KeyedRateLimiter(options.targetRate ?? 5, (options.targetRate ?? 5) * 2)
  }

  /** The token an announce response hands to `peerId` announcing from `ip`. */
  issueToken(infoHash: Uint8Array, peerId: Uint8Array, ip: string, now: number): Uint8Array {
    const expiry = Math.ceil((now + this.tokenTtlMs) / 1000)
    return issueRegisterToken(this.options.secret, { infoHash, peerId, ip }, expiry)
  }

  /** Live registrations of one swarm (for the announce extension's firewalled list). */
  registered(infoHash: Uint8Array, limit: number): RegisteredPeer[] {
    const out: RegisteredPeer[] = []
    for (const k of this.bySwarm.get(hex(infoHash)) ?? []) {
      if (out.length >= limit) break
      const p = this.registry.get(k)
      if (p) out.push(p)
    }
    return out
  }

  get registrationCount(): number {
    return this.registry.size
  }

  /** Handles one datagram from `from`. Never throws: bad input becomes an error reply or nothing. */
  receive(bytes: Uint8Array, from: UdpAddress, now: number): RelayOutput {
    const out: RelayOutput = { sends: [], events: [] }
    let msg: RendezvousMessage
    try {
      msg = decodeRendezvous(bytes)
    } catch (err) {
      // Answer only what is big enough to pay for the answer; drop the rest silently.
      if (err instanceof DecodeError && bytes.length >= 64)
        this.refuse(out, from, 0, 'malformed', err.message)
      return out
    }
    switch (msg.type) {
      case 'bindingRequest':
        out.sends.push({
          bytes: encodeRendezvous({ type: 'bindingResponse', txid: msg.txid, observed: from }),
          to: from,
          fromAltPort: msg.changePort,
        })
        break
      case 'register':
        this.onRegister(msg, from, now, out)
        break
      case 'connectRequest':
        this.onConnectRequest(msg, bytes.length, from, now, out)
        break
      case 'pushAck':
        if (this.pushes.get(msg.txid) && addressKey(this.pushes.get(msg.txid)!.to) === addressKey(from)) {
          this.pushes.delete(msg.txid)
        }
        break
      case 'punchResult':
        // Both peers report; count the first report of a punch this relay set up, ignore the rest.
        if (this.nonces.delete(hex(msg.nonce))) {
          out.events.push({
            type: 'punchResult',
            infoHash: msg.infoHash,
            success: msg.success,
            elapsedMs: msg.elapsedMs,
          })
        }
        out.sends.push({ bytes: encodeRendezvous({ type: 'resultAck', txid: msg.txid }), to: from })
        break
      default:
        // Answers and peer-to-peer probes are never addressed to the tracker: ignore them.
        break
    }
    return out
  }

  /** Resends due pushes and drops stale registrations. */
  tick(now: number): RelayOutput {
    const out: RelayOutput = { sends: [], events: [] }
    for (const [txid, p] of this.pushes) {
      if (p.due > now) continue
      if (p.sends >= PUSH_MAX_SENDS) {
        this.pushes.delete(txid)
        continue
      }
      p.sends++
      p.due = now + PUSH_RETRY_MS
      out.sends.push({ bytes: p.bytes, to: p.to })
    }
    // The registry is kept in order of last keepalive, so the stale ones are at the front.
    for (const [k, p] of this.registry) {
      if (now - p.lastSeen <= REGISTRATION_TTL_MS) break
      this.unregister(k, p)
      out.events.push({ type: 'expired', peer: p })
    }
    for (const [k, at] of this.nonces) {
      if (now - at <= NONCE_TTL_MS) break
      this.nonces.delete(k)
    }
    this.answers.expire(now)
    return out
  }

  /** When `tick` next has work, or undefined when idle. */
  nextDeadline(): number | undefined {
    let next: number | undefined
    for (const p of this.pushes.values()) next = next === undefined ? p.due : Math.min(next, p.due)
    const oldest = this.registry.values().next().value
    if (oldest) {
      const d = oldest.lastSeen + REGISTRATION_TTL_MS + 1
      next = next === undefined ? d : Math.min(next, d)
    }
    const oldestNonce = this.nonces.values().next().value
    if (oldestNonce !== undefined) {
      const d = oldestNonce + NONCE_TTL_MS + 1
      next = next === undefined ? d : Math.min(next, d)
    }
    const answerExpiry = this.answers.nextExpiry()
    if (answerExpiry !== undefined) next = next === undefined ? answerExpiry : Math.min(next, answerExpiry)
    return next
  }

  /** Why a token does not admit this peer at this address now, or undefined when it does. */
  private tokenRefusal(m: TokenFields, ip: string, now: number): string | undefined {
    const verdict = verifyRegisterToken(
      this.options.secret,
      m.token,
      { infoHash: m.infoHash, peerId: m.peerId, ip },
      Math.floor(now / 1000),
    )
    if (verdict === 'ok') return undefined
    return verdict === 'expired' ? 'token expired: announce again' : 'invalid token'
  }

  private tokenOk(m: Register, from: UdpAddress, now: number, out: RelayOutput): boolean {
    const problem = this.tokenRefusal(m, from.address, now)
    if (problem) this.refuse(out, from, m.txid, 'badToken', problem)
    return problem === undefined
  }

  private onRegister(m: Register, from: UdpAddress, now: number, out: RelayOutput): void {
    if (!this.tokenOk(m, from, now, out)) return
    const key = regKey(m.infoHash, m.peerId)
    const known = this.registry.get(key)
    if (!known && this.registry.size >= (this.options.maxRegistrations ?? 1_000_000)) {
      const [staleKey, stale] = this.registry.entries().next().value ?? []
      if (staleKey && stale) {
        this.unregister(staleKey, stale)
        out.events.push({ type: 'expired', peer: stale })
      }
    }
    const peer: RegisteredPeer = {
      infoHash: m.infoHash,
      peerId: m.peerId,
      endpoint: { address: from.address, port: from.port, family: from.family },
      lan: m.lan,
      natClass: m.natClass,
      rttMs: m.rttMs,
      lastSeen: now,
    }
    // Delete first so that Map order stays the order of last keepalive.
    this.registry.delete(key)
    this.registry.set(key, peer)
    const swarmKey = hex(m.infoHash)
    const members = this.bySwarm.get(swarmKey) ?? new Set<string>()
    this.bySwarm.set(swarmKey, members)
    members.add(key)
    if (
      !known ||
      known.natClass !== peer.natClass ||
      addressKey(known.endpoint) !== addressKey(peer.endpoint)
    ) {
      out.events.push({ type: 'registered', peer })
    }
    out.sends.push({
      bytes: encodeRendezvous({
        type: 'registerAck',
        txid: m.txid,
        observed: from,
        keepaliveSeconds: KEEPALIVE_INTERVAL_MS / 1000,
      }),
      to: from,
    })
  }

  private onConnectRequest(
    m: ConnectRequest,
    size: number,
    from: UdpAddress,
    now: number,
    out: RelayOutput,
  ): void {
    // A resend of a request already relayed (its ack was lost): the same ack, no second punch.
    const answerKey = `${addressKey(from)}/${m.txid}/${hex(m.targetPeerId)}`
    const earlier = this.answers.get(answerKey, now)
    if (earlier) {
      out.sends.push({ bytes: earlier, to: from })
      return
    }
    const result = this.relayConnect(
      {
        infoHash: m.infoHash,
        peerId: m.peerId,
        token: m.token,
        targetPeerId: m.targetPeerId,
        requester: from,
        requesterLan: m.lan,
        natClass: m.natClass,
        rttMs: m.rttMs,
        receivedBytes: size,
        ackTxid: m.txid,
      },
      now,
      out,
    )
    if (result.type === 'refused') this.refuse(out, from, m.txid, result.code, result.message)
    else {
      const ack = out.sends.find((send) => send.to === from)
      if (ack) this.answers.set(answerKey, ack.bytes, now)
    }
  }

  /**
   * A connect-request that came over HTTP (`GET /connect`, docs/protocol/connect-request.md): the
   * same checks as over UDP, with the token bound to the HTTP source address. The requester must have
   * registered its UDP endpoint from that address, since that endpoint is what the target punches to.
   * The answer goes back over HTTP; only the pushes are datagrams, and they never carry more bytes
   * than the request did.
   */
  connectFromHttp(req: HttpConnectRequest, now: number): { out: RelayOutput; result: ConnectResult } {
    const out: RelayOutput = { sends: [], events: [] }
    const from: UdpAddress = { address: req.ip, port: 0 }
    const refused = (code: RendezvousErrorName, message: string): ConnectResult => {
      out.events.push({ type: 'refused', reason: code, from })
      return { type: 'refused', code, message }
    }
    const problem = this.tokenRefusal(req, req.ip, now)
    if (problem) return { out, result: refused('badToken', problem) }
    const self = this.registry.get(regKey(req.infoHash, req.peerId))
    if (!self || self.endpoint.address !== req.ip) {
      return {
        out,
        result: refused('notRegistered', 'requester is not registered: register your UDP endpoint first'),
      }
    }
    const result = this.relayConnect(
      {
        infoHash: req.infoHash,
        peerId: req.peerId,
        token: req.token,
        targetPeerId: req.targetPeerId,
        requester: self.endpoint,
        requesterLan: self.lan,
        natClass: self.natClass,
        rttMs: self.rttMs,
        receivedBytes: req.receivedBytes,
      },
      now,
      out,
    )
    if (result.type === 'refused') out.events.push({ type: 'refused', reason: result.code, from })
    return { out, result }
  }

  /**
   * Steps 2-3 of the exchange for either transport: limits, target lookup, nonce, ack and push. The
   * token has been checked. `ackTxid` set: the ack is a datagram to the requester and counts against
   * `receivedBytes` with the pushes.
   */
  private relayConnect(c: ConnectInput, now: number, out: RelayOutput): ConnectResult {
    const refused = (code: RendezvousErrorName, message: string): ConnectResult => ({
      type: 'refused',
      code,
      message,
    })
    const problem = c.ackTxid === undefined ? undefined : this.tokenRefusal(c, c.requester.address, now)
    if (problem) return refused('badToken', problem)
    if (!this.requesterLimit.take(addressLimitKey(c.requester.address), now)) {
      return refused('rateLimited', 'too many connect-requests')
    }
    const target = this.registry.get(regKey(c.infoHash, c.targetPeerId))
    if (!target) return refused('notRegistered', 'target is not registered in this swarm')
    if (!this.targetLimit.take(hex(c.infoHash) + hex(c.targetPeerId), now)) {
      return refused('rateLimited', 'too many connect-requests for this peer')
    }
    if (c.natClass === 'symmetric' && target.natClass === 'symmetric') {
      return refused('needsRelay', 'both peers are behind symmetric NAT')
    }
    const nonce = this.deps.random.bytes(new Uint8Array(8))
    // Both sides start probing together: each waits out the difference of the one-way delays.
    const slowest = Math.max(c.rttMs, target.rttMs)
    const answer: ConnectAnswer = {
      type: 'relayed',
      target: target.endpoint,
      targetLan: target.lan,
      targetNatClass: target.natClass,
      punchDelayMs: Math.round((slowest - c.rttMs) / 2),
      nonce,
    }
    const ack =
      c.ackTxid === undefined
        ? undefined
        : encodeRendezvous({
            type: 'connectAck',
            txid: c.ackTxid,
            target: answer.target,
            targetLan: answer.targetLan,
            targetNatClass: answer.targetNatClass,
            punchDelayMs: answer.punchDelayMs,
            nonce,
          })
    const pushId = this.newPushId()
    const push: ConnectPush = {
      type: 'connectPush',
      txid: pushId,
      infoHash: c.infoHash,
      requesterPeerId: c.peerId,
      requester: { address: c.requester.address, port: c.requester.port, family: c.requester.family },
      requesterLan: c.requesterLan,
      requesterNatClass: c.natClass,
      punchDelayMs: Math.round((slowest - target.rttMs) / 2),
      nonce,
    }
    const pushBytes = encodeRendezvous(push)
    // Never more out than in (the codec's padding guarantees it for UDP; HTTP requests must pad).
    if ((ack?.length ?? 0) + pushBytes.length * PUSH_MAX_SENDS > c.receivedBytes) {
      return refused('tooSmall', 'connect-request too small')
    }
    if (ack) out.sends.push({ bytes: ack, to: c.requester })
    out.sends.push({ bytes: pushBytes, to: target.endpoint })
    if (this.nonces.size < MAX_NONCES) this.nonces.set(hex(nonce), now)
    this.pushes.set(pushId, { bytes: pushBytes, to: target.endpoint, sends: 1, due: now + PUSH_RETRY_MS })
    out.events.push({ type: 'relayed', infoHash: c.infoHash, from: c.peerId, to: c.targetPeerId })
    return answer
  }

  private unregister(key: string, p: RegisteredPeer): void {
    this.registry.delete(key)
    const swarmKey = hex(p.infoHash)
    const members = this.bySwarm.get(swarmKey)
    members?.delete(key)
    if (members?.size === 0) this.bySwarm.delete(swarmKey)
  }

  private newPushId(): number {
    let id: number
    do id = this.deps.random.int(0x100000000)
    while (this.pushes.has(id))
    return id
  }

  private refuse(
    out: RelayOutput,
    to: UdpAddress,
    txid: number,
    code: RendezvousErrorName,
    message: string,
  ): void {
    out.sends.push({ bytes: encodeRendezvous({ type: 'error', txid, code, message }), to })
    out.events.push({ type: 'refused', reason: code, from: to })
  }
}
