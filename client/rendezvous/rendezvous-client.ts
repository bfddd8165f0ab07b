import { EventEmitter } from 'node:events'
import type { Clock, Random, TimerHandle } from '../../protocol/clock.js'
import type { DatagramSocket, UdpAddress } from '../../protocol/datagram-socket.js'
import { PunchError } from '../../protocol/errors.js'
import { classifyNat } from '../../protocol/punch/nat-classifier.js'
import type { PunchOptions } from '../../protocol/punch/punch-plan.js'
import { decodeRendezvous, encodeRendezvous } from '../../protocol/rendezvous/rendezvous-codec.js'
import type {
  ConnectAck,
  ConnectPush,
  RendezvousMessage,
  WireNatClass,
} from '../../protocol/rendezvous/rendezvous-messages.js'
import { KEEPALIVE_INTERVAL_MS } from '../../protocol/rendezvous/rendezvous-relay.js'
import { isRendezvous } from '../../protocol/udp-framing.js'
import { type PunchedPath, PunchRunner } from './punch-runner.js'
import { RendezvousTransactions } from './rendezvous-transactions.js'
import { isWildcardAddress, routeSourceAddress } from './source-address.js'

export interface RendezvousClientOptions {
  /** The tracker's rendezvous UDP endpoint (its BEP 15 port). */
  tracker: UdpAddress
  /** The tracker's second UDP port, for NAT classification. */
  altTracker?: UdpAddress
  peerId: Uint8Array
  /**
   * This socket's LAN address, offered to peers behind the same public address.
   * @default learned by `classify()`: the socket's address, or the route's source address for a
   * socket bound to every interface
   */
  lan?: UdpAddress
  /** Punch tuning. */
  punch?: PunchOptions
}

export interface RendezvousClientDeps {
  /** The client's one shared socket: its NAT mapping is what gets registered and punched. */
  socket: DatagramSocket
  clock: Clock
  random: Random
  /** Opens an extra socket for birthday probing from behind a symmetric NAT. */
  openSocket?: () => Promise<DatagramSocket>
  /** The local IP used toward an address, for a socket bound to 0.0.0.0. @default routeSourceAddress */
  sourceAddress?: (to: UdpAddress) => Promise<string | undefined>
}

export interface RendezvousClientEvents {
  /** A peer asked for us and the punch succeeded: expect its uTP SYN on `path.socket`. */
  punched: [path: PunchedPath]
  /** A punch for a push failed. */
  punchFailed: [err: PunchError, peerId: Uint8Array]
  /** The registration's public endpoint changed (the router lost or remapped our mapping). */
  mappingChanged: [observed: UdpAddress]
  /** Registering or keeping alive failed; unanswered, the client keeps trying (sooner than a keepalive). */
  trackerError: [err: unknown]
  /**
   * The tracker refused the registration's token (it restarted with a new secret, or the token
   * expired): announce again and pass the new token to `register()`.
   */
  registrationRefused: [infoHash: Uint8Array]
}

/** After an unanswered keepalive, try again this soon rather than a whole keepalive interval later. */
export const REGISTER_RETRY_MS = 5_000
/** `checkMapping()` sends at most one keepalive per registration this often. */
export const MAPPING_CHECK_MIN_MS = 2_000

interface Registration {
  infoHash: Uint8Array
  token: Uint8Array
  timer?: TimerHandle
  /** live: the last register was acknowledged; failing: unanswered; refused: the token was refused. */
  state: 'pending' | 'live' | 'failing' | 'refused'
  inFlight: boolean
  sentAt: number
}

/**
 * The peer side of the rendezvous protocol (docs/protocol/connect-request.md) on the shared socket:
 * classifies its NAT, registers and keeps the mapping alive, sends connect-requests and answers
 * pushes, and runs the punches.
 */
export class RendezvousClient extends EventEmitter<RendezvousClientEvents> {
  natClass: WireNatClass = 'unknown'
  observed?: UdpAddress
  rttMs = 100
  private readonly tx: RendezvousTransactions
  private readonly runner: PunchRunner
  private readonly registrations = new Map<string, Registration>()
  private readonly onMessage = (b: Uint8Array, from: UdpAddress) => this.receive(b, from)
  private stopped = false
  /** The socket's own endpoint as `classify()` found it. */
  private learnedLan?: UdpAddress

  constructor(
    private readonly options: RendezvousClientOptions,
    private readonly deps: RendezvousClientDeps,
  ) {
    super()
    this.tx = new RendezvousTransactions(deps)
    this.runner = new PunchRunner(options.punch ?? {}, deps)
    deps.socket.on('message', this.onMessage)
  }

  /**
   * Learns the NAT class from binding-requests (docs/protocol/connect-request.md, NAT
   * classification), and the socket's own endpoint, offered to peers behind the same public address.
   */
  async classify(opts: { signal?: AbortSignal } = {}): Promise<WireNatClass> {
    const { socket } = this.deps
    const { tracker, altTracker } = this.options
    const bind = (to: UdpAddress, changePort: boolean, maxSends: number) =>
      this.tx
        .request(socket, to, (txid) => ({ type: 'bindingRequest', txid, changePort }), {
          signal: opts.signal,
          maxSends,
        })
        .then(
          (r) => r,
          (err) => {
            if (opts.signal?.aborted) throw err
            return undefined
          },
        )
    // 1. Change-port first: before we ever sent to the alternate port, its answer is unsolicited.
    //    2a. The main port alongside it: the same destination, so it opens nothing for the alternate.
    const [changed, viaMain] = await Promise.all([
      altTracker ? bind(tracker, true, 2) : undefined,
      bind(tracker, false, 4),
    ])
    // 2b. Then the alternate port: one mapping for both destinations means a cone. Skipped when the
    //     main port never answered: no UDP gets through, and waiting again would only delay `blocked`.
    const viaAlt = altTracker && viaMain ? await bind(altTracker, false, 3) : undefined
    opts.signal?.throwIfAborted()
    if (viaMain) this.rttMs = viaMain.rttMs
    const observedOf = (r: typeof viaMain) => (r?.msg.type === 'bindingResponse' ? r.msg.observed : undefined)
    this.observed = observedOf(viaMain)
    const local = await this.localEndpoint()
    this.learnedLan = local
    this.natClass = classifyNat({
      local,
      changePortAnswered: changed !== undefined && changed.from.port !== tracker.port,
      viaMain: observedOf(viaMain),
      viaAlt: altTracker ? observedOf(viaAlt) : observedOf(viaMain),
    })
    return this.natClass
  }

  /** The LAN endpoint offered to peers: the configured one, else what `classify()` learned. */
  get lan(): UdpAddress | undefined {
    return this.options.lan ?? this.learnedLan
  }

  /**
   * The socket's own endpoint with a concrete IP: a socket bound to 0.0.0.0 sends from the address
   * its route to the tracker picks, and that is what the tracker would see if there were no NAT.
   */
  private async localEndpoint(): Promise<UdpAddress> {
    if (this.options.lan) return this.options.lan
    const bound = this.deps.socket.address()
    if (!isWildcardAddress(bound.address)) return bound
    const address = await (this.deps.sourceAddress ?? routeSourceAddress)(this.options.tracker)
    return address ? { ...bound, address } : bound
  }

  /**
   * Registers for one swarm with the token from its announce, and keeps the registration alive. Called
   * again with each announce's token: a live registration with the same token is left as it is; a new
   * token, or a registration that is failing or was refused, registers at once.
   */
  async register(
    infoHash: Uint8Array,
    token: Uint8Array,
    opts: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const key = Buffer.from(infoHash).toString('hex')
    const old = this.registrations.get(key)
    if (old && old.state !== 'refused' && Buffer.from(old.token).equals(Buffer.from(token))) {
      if (old.state === 'failing' && !old.inFlight) await this.sendRegister(old, opts.signal)
      return
    }
    if (old?.timer) this.deps.clock.clearTimer(old.timer)
    const reg: Registration = { infoHash, token, state: 'pending', inFlight: false, sentAt: 0 }
    this.registrations.set(key, reg)
    await this.sendRegister(reg, opts.signal)
  }

  /** Whether the registration for this swarm was refused and waits for a fresh token. */
  needsToken(infoHash: Uint8Array): boolean {
    return this.registrations.get(Buffer.from(infoHash).toString('hex'))?.state === 'refused'
  }

  /**
   * Sends every registration's keepalive now: the answer shows whether our public endpoint is still
   * the one registered (`mappingChanged` if not). For when a punched path falls silent.
   */
  checkMapping(): void {
    const now = this.deps.clock.now()
    for (const reg of this.registrations.values()) {
      if (reg.state === 'refused' || reg.inFlight || now - reg.sentAt < MAPPING_CHECK_MIN_MS) continue
      this.sendRegister(reg).catch(() => {})
    }
  }

  /**
   * Asks the tracker to connect us to `targetPeerId` and punches. Resolves with the punched path:
   * open uTP to `path.address` on `path.socket`.
   */
  async connect(
    infoHash: Uint8Array,
    targetPeerId: Uint8Array,
    opts: { signal?: AbortSignal } = {},
  ): Promise<PunchedPath> {
    // No UDP reaches the tracker from here, so none will reach a peer: only a relay can connect us.
    if (this.natClass === 'blocked') {
      throw new PunchError('PUNCH_NEEDS_RELAY', 'UDP is blocked on this network: a relay is needed')
    }
    const reg = this.registrations.get(Buffer.from(infoHash).toString('hex'))
    if (!reg) throw new PunchError('PUNCH_TOKEN_INVALID', 'register for this swarm before connecting')
    // 1. The connect-request; the tracker answers with the target's endpoints and a nonce.
    const { msg } = await this.tx.request(
      this.deps.socket,
      this.options.tracker,
      (txid) => ({
        type: 'connectRequest',
        txid,
        infoHash,
        peerId: this.options.peerId,
        token: reg.token,
        targetPeerId,
        lan: this.lan,
        natClass: this.natClass,
        rttMs: this.rttMs,
      }),
      { signal: opts.signal },
    )
    opts.signal?.throwIfAborted()
    const ack = msg as ConnectAck
    // 2. Punch, starting after the delay the tracker chose; 3. report the outcome for the stats.
    return this.reported(
      infoHash,
      ack.nonce,
      this.runner.run(
        {
          nonce: ack.nonce,
          selfPeerId: this.options.peerId,
          peerPeerId: targetPeerId,
          selfNat: this.natClass,
          peerNat: ack.targetNatClass,
          peerEndpoint: ack.target,
          peerLan: ack.targetLan,
          samePublicAddress: this.observed?.address === ack.target.address,
          punchDelayMs: ack.punchDelayMs,
        },
        { infoHash, role: 'requester', signal: opts.signal },
      ),
    )
  }

  /** Tells the tracker how a punch ended (fire and forget: stats only), passing the outcome on. */
  private async reported(
    infoHash: Uint8Array,
    nonce: Uint8Array,
    punch: Promise<PunchedPath>,
  ): Promise<PunchedPath> {
    const started = this.deps.clock.now()
    const report = (success: boolean) => {
      this.tx
        .request(
          this.deps.socket,
          this.options.tracker,
          (txid) => ({
            type: 'punchResult',
            txid,
            infoHash,
            nonce,
            success,
            elapsedMs: Math.round(this.deps.clock.now() - started),
          }),
          { maxSends: 2 },
        )
        .catch(() => {})
    }
    try {
      const path = await punch
      report(true)
      return path
    } catch (err) {
      report(false)
      throw err
    }
  }

  stop(): void {
    this.stopped = true
    this.deps.socket.off('message', this.onMessage)
    for (const r of this.registrations.values()) if (r.timer) this.deps.clock.clearTimer(r.timer)
    this.registrations.clear()
    this.tx.cancelAll(new PunchError('PUNCH_REFUSED', 'rendezvous client stopped'))
    this.runner.stop()
  }

  private async sendRegister(reg: Registration, signal?: AbortSignal): Promise<void> {
    if (reg.timer) this.deps.clock.clearTimer(reg.timer)
    reg.timer = undefined
    reg.inFlight = true
    reg.sentAt = this.deps.clock.now()
    let retryMs = KEEPALIVE_INTERVAL_MS
    try {
      const { msg, rttMs } = await this.tx.request(
        this.deps.socket,
        this.options.tracker,
        (txid) => ({
          type: 'register',
          txid,
          infoHash: reg.infoHash,
          peerId: this.options.peerId,
          token: reg.token,
          lan: this.lan,
          natClass: this.natClass,
          rttMs: this.rttMs,
        }),
        { signal },
      )
      this.rttMs = rttMs
      reg.state = 'live'
      if (msg.type === 'registerAck') {
        const prev = this.observed
        this.observed = msg.observed
        if (prev && (prev.address !== msg.observed.address || prev.port !== msg.observed.port)) {
          // The router lost our mapping and gave a new one: this keepalive re-registered this swarm;
          // the others re-register at once too, and peers must be punched to again.
          for (const other of this.registrations.values()) {
            if (other !== reg && !other.inFlight && other.state !== 'refused') {
              this.sendRegister(other).catch(() => {})
            }
          }
          this.emit('mappingChanged', msg.observed)
        }
      }
    } catch (err) {
      if (signal?.aborted || this.stopped) throw err
      if (err instanceof PunchError && err.code === 'PUNCH_TOKEN_INVALID') {
        // The tracker restarted (new secret) or the token expired: only a new announce helps.
        reg.state = 'refused'
        this.emit('trackerError', err)
        this.emit('registrationRefused', reg.infoHash)
      } else {
        reg.state = 'failing'
        retryMs = REGISTER_RETRY_MS
        this.emit('trackerError', err)
      }
    } finally {
      reg.inFlight = false
      // Keepalive: well inside the 30 s Linux keeps an unreplied UDP mapping; sooner after a failure.
      if (
        !this.stopped &&
        reg.state !== 'refused' &&
        this.registrations.get(Buffer.from(reg.infoHash).toString('hex')) === reg
      ) {
        reg.timer = this.deps.clock.setTimer(retryMs, () => {
          this.sendRegister(reg).catch(() => {})
        })
      }
    }
  }

  private receive(bytes: Uint8Array, from: UdpAddress): void {
    if (!isRendezvous(bytes)) return
    let msg: RendezvousMessage
    try {
      msg = decodeRendezvous(bytes)
    } catch {
      return
    }
    switch (msg.type) {
      case 'connectPush':
        this.onPush(msg, from)
        break
      case 'punch':
        this.runner.onPunch(msg, from, this.deps.socket)
        break
      default:
        this.tx.answer(msg, from)
    }
  }

  private onPush(push: ConnectPush, from: UdpAddress): void {
    // Acknowledge every copy: the tracker stops resending on the first ack it gets.
    this.deps.socket.send(encodeRendezvous({ type: 'pushAck', txid: push.txid }), from)
    if (this.runner.has(push.nonce)) return
    this.reported(
      push.infoHash,
      push.nonce,
      this.runner.run(
        {
          nonce: push.nonce,
          selfPeerId: this.options.peerId,
          peerPeerId: push.requesterPeerId,
          selfNat: this.natClass,
          peerNat: push.requesterNatClass,
          peerEndpoint: push.requester,
          peerLan: push.requesterLan,
          samePublicAddress: this.observed?.address === push.requester.address,
          punchDelayMs: push.punchDelayMs,
        },
        { infoHash: push.infoHash, role: 'target' },
      ),
    ).then(
      (path) => this.emit('punched', path),
      (err) => this.emit('punchFailed', err, push.requesterPeerId),
    )
  }
}
