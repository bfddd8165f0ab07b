import type { Random } from '../clock.js'
import { addressKey, type UdpAddress } from '../datagram-socket.js'
import { ProtocolError, PunchError } from '../errors.js'
import { encodeRendezvous } from '../rendezvous/rendezvous-codec.js'
import type { Punch } from '../rendezvous/rendezvous-messages.js'
import {
  choosePunchStrategy,
  PUNCH_DEFAULTS,
  type PunchOptions,
  type PunchPlan,
  type PunchStrategy,
} from './punch-plan.js'

/** One datagram to send: `socket` 0 is the client's shared socket, 1..n the extra birthday sockets. */
export interface PunchSend {
  bytes: Uint8Array
  to: UdpAddress
  socket: number
  /** IP TTL for this datagram; undefined = the socket's default. */
  ttl?: number
}

export type PunchResult =
  | { ok: true; path: UdpAddress; socket: number; elapsedMs: number }
  | { ok: false; error: PunchError; elapsedMs: number }

export interface PunchEffects {
  sends: PunchSend[]
  /** Set once, when the session settles. */
  result?: PunchResult
}

export type PunchState = 'waiting' | 'probing' | 'connected' | 'failed'

const MIN_PORT = 1024
const bytesEqual = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i])

/**
 * One hole-punching attempt toward one peer, as a pure state machine (docs/protocol/connect-request.md,
 * Exchange, steps 5-6). The shell feeds it time and the punch datagrams that arrive on any of its
 * sockets; it answers with datagrams to send and, once, a result. It keeps answering probes after it
 * settles, so the far side can settle too.
 */
export class PunchSession {
  readonly strategy: PunchStrategy
  private state: PunchState = 'waiting'
  private readonly o: Required<PunchOptions>
  private startedAt = 0
  private nextRoundAt = 0
  private round = 0
  private txid = 0
  private readonly probedPorts = new Set<number>()
  /** Where this side settled; it keeps probing there until the peer answers or time runs out. */
  private settled?: { to: UdpAddress; socket: number }
  private confirming = false

  constructor(
    readonly plan: PunchPlan,
    options: PunchOptions,
    private readonly deps: { random: Random },
  ) {
    this.o = { ...PUNCH_DEFAULTS, ...options }
    this.strategy = choosePunchStrategy(
      plan.selfNat,
      plan.peerNat,
      plan.samePublicAddress && plan.peerLan !== undefined,
    )
  }

  get current(): PunchState {
    return this.state
  }

  /** Extra sockets the shell must open before `start` (birthday probing from a symmetric NAT). */
  get extraSocketsNeeded(): number {
    return this.strategy === 'birthday-sockets' ? this.o.birthdaySockets : 0
  }

  /** When `onTimer` next has work; undefined once settled and confirmed (or failed). */
  nextDeadline(): number | undefined {
    if (this.state === 'waiting' || this.state === 'probing' || this.confirming) {
      return Math.min(this.nextRoundAt, this.giveUpAt())
    }
    return undefined
  }

  start(now: number): PunchEffects {
    if (this.state !== 'waiting' || this.startedAt !== 0) {
      throw new ProtocolError('PROTOCOL_ILLEGAL_TRANSITION', `start in state ${this.state}`)
    }
    this.startedAt = now
    this.nextRoundAt = now + this.plan.punchDelayMs
    if (this.strategy === 'needs-relay') {
      return this.fail(
        now,
        new PunchError('PUNCH_NEEDS_RELAY', `${this.plan.selfNat} to ${this.plan.peerNat} needs a relay`),
      )
    }
    return this.plan.punchDelayMs <= 0 ? this.onTimer(now) : { sends: [] }
  }

  onTimer(now: number): PunchEffects {
    switch (this.state) {
      case 'connected': {
        if (now >= this.giveUpAt()) this.confirming = false
        if (!this.confirming || now < this.nextRoundAt) return { sends: [] }
        this.nextRoundAt = now + this.o.probeIntervalMs
        const { to, socket } = this.settled!
        return { sends: [{ bytes: this.probe(false), to, socket }] }
      }
      case 'failed':
        return { sends: [] }
      case 'waiting':
      case 'probing': {
        if (now >= this.giveUpAt()) {
          return this.fail(
            now,
            new PunchError('PUNCH_TIMEOUT', `no answer from the peer in ${this.o.timeoutMs} ms`),
          )
        }
        if (now < this.nextRoundAt) return { sends: [] }
        this.state = 'probing'
        const sends = this.roundProbes()
        this.round++
        // After the last low-TTL round our own mapping is open: the first full probe need not wait a
        // whole interval (the far side, started at the same moment by the tracker, has opened its own).
        const lowTtlJustEnded = sends.some((x) => x.ttl !== undefined) && this.round === this.o.lowTtlRounds
        this.nextRoundAt = now + (lowTtlJustEnded ? this.o.lowTtlGapMs : this.o.probeIntervalMs)
        return { sends }
      }
    }
  }

  /**
   * A punch datagram for this nonce arrived on `socket` from `from`. Probes are answered at the address
   * they came from (peer-reflexive): that is what lets a cone or public peer reach a symmetric one.
   */
  onPunch(msg: Punch, from: UdpAddress, socket: number, now: number): PunchEffects {
    if (!bytesEqual(msg.nonce, this.plan.nonce) || !bytesEqual(msg.peerId, this.plan.peerPeerId))
      return { sends: [] }
    const sends: PunchSend[] = []
    if (!msg.ack) sends.push({ bytes: this.probe(true), to: from, socket })
    if (msg.ack) this.confirming = false
    if (this.state === 'waiting' || this.state === 'probing') {
      this.state = 'connected'
      // Settling on the peer's probe does not tell us that ours got through: keep probing this path
      // until an answer comes back. A lost answer would otherwise strand the peer, whose birthday
      // spray never tries the same port twice.
      this.settled = { to: from, socket }
      this.confirming = !msg.ack
      this.nextRoundAt = now + this.o.probeIntervalMs
      return { sends, result: { ok: true, path: from, socket, elapsedMs: now - this.startedAt } }
    }
    return { sends }
  }

  private giveUpAt(): number {
    return this.startedAt + this.plan.punchDelayMs + this.o.timeoutMs
  }

  private fail(now: number, error: PunchError): PunchEffects {
    this.state = 'failed'
    return { sends: [], result: { ok: false, error, elapsedMs: now - this.startedAt } }
  }

  private probe(ack: boolean): Uint8Array {
    this.txid = (this.txid + 1) >>> 0
    return encodeRendezvous({
      type: 'punch',
      txid: this.txid,
      ack,
      nonce: this.plan.nonce,
      peerId: this.plan.selfPeerId,
    })
  }

  private roundProbes(): PunchSend[] {
    const p = this.plan
    // Low-TTL probes open our own NAT's mapping and filter without reaching the far NAT.
    // A public peer has no far router to keep the probe from: a full-TTL probe saves a round.
    const behindNat = p.selfNat === 'cone' || p.selfNat === 'symmetric' || p.selfNat === 'firewalled'
    const lowTtl = behindNat && p.peerNat !== 'public' && !p.samePublicAddress
    const ttl = lowTtl && this.round < this.o.lowTtlRounds ? this.o.lowTtl : undefined
    const sends: PunchSend[] = []
    if (this.strategy === 'lan-first' && p.peerLan)
      sends.push({ bytes: this.probe(false), to: p.peerLan, socket: 0 })
    sends.push({ bytes: this.probe(false), to: p.peerEndpoint, socket: 0, ttl })
    // The extra sockets' first sends create their mappings; the far side's probes then find one of
    // them and are answered from it. Later sends only keep the mappings alive.
    const refresh = this.round <= this.o.lowTtlRounds || this.round % this.o.birthdayRefreshRounds === 0
    if (this.strategy === 'birthday-sockets' && refresh) {
      for (let s = 1; s <= this.o.birthdaySockets; s++) {
        sends.push({ bytes: this.probe(false), to: p.peerEndpoint, socket: s, ttl })
      }
    } else if (this.strategy === 'birthday-ports' && this.round >= this.o.lowTtlRounds) {
      for (
        let i = 0;
        i < this.o.birthdayProbesPerRound && this.probedPorts.size < this.o.birthdayMaxProbes;
        i++
      ) {
        const port = this.randomUnprobedPort()
        const to = { address: p.peerEndpoint.address, port, family: p.peerEndpoint.family }
        if (addressKey(to) !== addressKey(p.peerEndpoint))
          sends.push({ bytes: this.probe(false), to, socket: 0 })
      }
    }
    return sends
  }

  private randomUnprobedPort(): number {
    for (;;) {
      const port = MIN_PORT + this.deps.random.int(65536 - MIN_PORT)
      if (!this.probedPorts.has(port)) {
        this.probedPorts.add(port)
        return port
      }
    }
  }
}
