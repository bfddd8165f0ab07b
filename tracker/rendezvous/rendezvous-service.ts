import type { Logger } from 'pino'
import { UdpSocket } from '../../client/udp-socket.js'
import type { Clock, Random, TimerHandle } from '../../protocol/clock.js'
import type { DatagramSocket, UdpAddress } from '../../protocol/datagram-socket.js'
import {
  type ConnectResult,
  type HttpConnectRequest,
  type RelayEvent,
  type RelayOutput,
  RendezvousRelay,
} from '../../protocol/rendezvous/rendezvous-relay.js'
import type { TrackerStats } from '../stats/tracker-stats.js'
import type { NatClass, SwarmStore } from '../store/swarm-store.js'

export interface RendezvousServiceOptions {
  /** HMAC key for registration tokens. */
  secret: Uint8Array
  /** Host to bind the alternate (classification) port on. */
  host: string
  /** Alternate UDP port for NAT classification; 0 picks one. Undefined: no alternate port. */
  altPort?: number
  /** Connect-requests per second from one requester address, and to one target. @default 5 */
  connectRatePerSecond?: number
}

export interface RendezvousServiceDeps {
  clock: Clock
  random: Random
  store?: SwarmStore
  stats?: TrackerStats
  logger?: Logger
  /** Binds the alternate port (simulations pass an in-memory socket). @default a node:dgram socket */
  openAltSocket?: (host: string, port: number) => Promise<DatagramSocket>
}

const openUdp = (host: string, port: number) =>
  UdpSocket.open({ host, port, type: host.includes(':') ? 'udp6' : 'udp4' })

/** Sends a datagram from the tracker's main UDP port (the one BEP 15 answers on). */
export type MainPortSend = (bytes: Uint8Array, to: UdpAddress) => void

/**
 * The tracker's rendezvous shell: feeds datagrams from the main UDP port into the pure
 * RendezvousRelay, carries out what it answers (from the main or the alternate port), runs its
 * timer, and reports registrations and punch outcomes to the store and stats.
 */
export class RendezvousService {
  readonly relay: RendezvousRelay
  private alt?: DatagramSocket
  private altBoundPort?: number
  private timer?: TimerHandle
  private mainSend?: MainPortSend

  constructor(
    private readonly options: RendezvousServiceOptions,
    private readonly deps: RendezvousServiceDeps,
  ) {
    this.relay = new RendezvousRelay(
      {
        secret: options.secret,
        requesterRate: options.connectRatePerSecond,
        targetRate: options.connectRatePerSecond,
      },
      { random: deps.random },
    )
  }

  /** Binds the alternate port (if configured); `send` sends from the main port. */
  async start(send: MainPortSend): Promise<void> {
    this.mainSend = send
    if (this.options.altPort === undefined) return
    const alt = await (this.deps.openAltSocket ?? openUdp)(this.options.host, this.options.altPort)
    alt.on('error', (err) => this.deps.logger?.warn({ err }, 'rendezvous alternate port error'))
    // Datagrams to the alternate port are binding-requests: answer them from there.
    alt.on('message', (msg, from) => this.receive(msg, from, true))
    this.alt = alt
    this.altBoundPort = alt.address().port
  }

  /** The alternate port actually bound, if any. */
  altPort(): number | undefined {
    return this.alt ? this.altBoundPort : undefined
  }

  /** A rendezvous datagram that arrived on the main port (wired to the UDP tracker's hook). */
  handle(bytes: Uint8Array, from: UdpAddress): void {
    this.receive(bytes, from, false)
  }

  /** The token an announce response carries for this peer. */
  issueToken(infoHash: Uint8Array, peerId: Uint8Array, ip: string): Uint8Array {
    return this.relay.issueToken(infoHash, peerId, ip, this.deps.clock.now())
  }

  /** A connect-request from `GET /connect`: pushes go out from the main port; the answer is returned. */
  connectFromHttp(req: HttpConnectRequest): ConnectResult {
    let done: ReturnType<RendezvousRelay['connectFromHttp']>
    try {
      done = this.relay.connectFromHttp(req, this.deps.clock.now())
    } catch (err) {
      this.deps.logger?.error({ err }, 'rendezvous relay failed')
      return { type: 'refused', code: 'malformed', message: 'connect-request failed' }
    }
    this.carryOut(done.out, false)
    return done.result
  }

  async stop(): Promise<void> {
    if (this.timer) this.deps.clock.clearTimer(this.timer)
    this.timer = undefined
    const alt = this.alt
    this.alt = undefined
    alt?.close()
  }

  private receive(bytes: Uint8Array, from: UdpAddress, viaAlt: boolean): void {
    let out: RelayOutput
    try {
      out = this.relay.receive(bytes, from, this.deps.clock.now())
    } catch (err) {
      // The relay never throws by design; a bug must still not take the tracker down.
      this.deps.logger?.error({ err }, 'rendezvous relay failed')
      return
    }
    this.carryOut(out, viaAlt)
  }

  private carryOut(out: RelayOutput, viaAlt: boolean): void {
    for (const s of out.sends) {
      const fromAlt = s.fromAltPort || viaAlt
      if (fromAlt && this.alt) this.alt.send(s.bytes, s.to)
      else if (!fromAlt) this.mainSend?.(s.bytes, s.to)
      // A change-port request with no alternate port configured goes unanswered: the peer reads
      // that as "not reachable unsolicited", the safe answer.
    }
    for (const e of out.events) this.report(e)
    this.schedule()
  }

  private report(e: RelayEvent): void {
    switch (e.type) {
      case 'registered':
        this.deps.store?.setNatClass(e.peer.infoHash, e.peer.peerId, e.peer.natClass as NatClass)
        break
      case 'relayed':
        this.deps.stats?.recordPunch('attempt')
        break
      case 'punchResult':
        this.deps.stats?.recordPunch(e.success ? 'success' : 'failure')
        break
      case 'refused':
        this.deps.logger?.debug({ reason: e.reason, from: e.from }, 'rendezvous request refused')
        break
      case 'expired':
        break
    }
  }

  private schedule(): void {
    const due = this.relay.nextDeadline()
    if (this.timer) this.deps.clock.clearTimer(this.timer)
    this.timer = undefined
    if (due === undefined) return
    this.timer = this.deps.clock.setTimer(Math.max(0, due - this.deps.clock.now()), () => {
      this.timer = undefined
      this.carryOut(this.relay.tick(this.deps.clock.now()), false)
    })
  }
}
