import type { PunchedPath } from '../../../client/rendezvous/punch-runner.js'
import { RendezvousClient } from '../../../client/rendezvous/rendezvous-client.js'
import type { UdpAddress } from '../../../protocol/datagram-socket.js'
import type { PunchOptions } from '../../../protocol/punch/punch-plan.js'
import { MESSAGE_TYPES } from '../../../protocol/rendezvous/rendezvous-messages.js'
import { isRendezvous } from '../../../protocol/udp-framing.js'
import { buildAnnounceExtension } from '../../../tracker/rendezvous/announce-extension.js'
import { RendezvousService } from '../../../tracker/rendezvous/rendezvous-service.js'
import { xorshiftRandom } from '../../helpers/xorshift-random.js'
import {
  type MemorySocket,
  NAT_PRESETS,
  type NatOptions,
  type PathOptions,
  type SimHost,
  type SimNat,
} from '../memory-network.js'
import { type SimWorld, simWorld } from '../utp/utp-sim.js'
import type { VirtualClock } from '../virtual-clock.js'

/** The NAT situations of docs/punch-simulation.md, one per peer. */
export type PeerKind = 'public' | 'cone' | 'symmetric' | 'firewalled' | 'blocked'

export const TRACKER_IP = '203.0.113.1'
export const TRACKER_PORT = 6969
export const TRACKER_ALT_PORT = 6970
export const PEER_PORT = 6881

/** The message type of a rendezvous datagram (header byte 4), undefined for anything else. */
const rendezvousType = (b: Uint8Array) => (isRendezvous(b) ? b[4] : undefined)

export interface PunchWorldOptions {
  /** Round trip between any two sites (peers and tracker). @default 50 */
  rttMs?: number
  /** Extra one-way delay in [0, jitterMs) per packet. @default 2 */
  jitterMs?: number
  loss?: number
  reorder?: number
  duplicate?: number
  /** Punch tuning for every peer. */
  punch?: PunchOptions
}

/** One punch datagram a peer sent: when, from which of its sockets (0 = shared), to where. */
export interface ProbeSent {
  t: number
  socket: number
  to: UdpAddress
}

export interface SimPeer {
  kind: PeerKind
  peerId: Uint8Array
  host: SimHost
  /** The router in front (a NAT, a firewall, a UDP-blocking network), null for a public host. */
  router: SimNat | null
  socket: MemorySocket
  client: RendezvousClient
  token: Uint8Array
  /** Every socket the peer opened, the shared one first (birthday sockets after it). */
  sockets: MemorySocket[]
  probes: ProbeSent[]
  /** When the first connect-push reached the shared socket. */
  pushAt?: number
  /** Paths the peer punched as a target (`punched` events), with when. */
  punched: { path: PunchedPath; at: number }[]
  failures: unknown[]
}

/**
 * A seeded world for the rendezvous protocol: the real tracker shell (RendezvousService around the
 * pure relay) on a public memory-network host with a main and an alternate UDP port, and peers, each
 * the real RendezvousClient on a memory socket behind its NAT model, all on one virtual clock.
 */
export class PunchSim {
  readonly world: SimWorld
  readonly service: RendezvousService
  readonly infoHash = new Uint8Array(20).fill(0x42)
  readonly tracker: UdpAddress = { address: TRACKER_IP, port: TRACKER_PORT, family: 'IPv4' }
  readonly rttMs: number
  private sites = 0
  private readonly mainSend: (b: Uint8Array, to: UdpAddress) => void

  private constructor(
    seed: number,
    private readonly options: PunchWorldOptions,
  ) {
    this.world = simWorld(seed)
    this.rttMs = options.rttMs ?? 50
    const path: PathOptions = {
      delayMs: this.rttMs / 2,
      jitterMs: options.jitterMs ?? 2,
      loss: options.loss ?? 0,
      reorder: options.reorder ?? 0,
      duplicate: options.duplicate ?? 0,
    }
    this.world.net.defaultPath(path)
    const { clock, net } = this.world
    const main = net.bind(TRACKER_IP, TRACKER_PORT)
    this.service = new RendezvousService(
      { secret: new Uint8Array(32).fill(7), host: TRACKER_IP, altPort: TRACKER_ALT_PORT },
      {
        clock,
        random: xorshiftRandom(seed ^ 0x5eed),
        openAltSocket: async (host, port) => net.bind(host, port),
      },
    )
    main.on('message', (b, from) => this.service.handle(b, from))
    this.mainSend = (b, to) => main.send(b, to)
  }

  static async create(seed: number, options: PunchWorldOptions = {}): Promise<PunchSim> {
    const sim = new PunchSim(seed, options)
    await sim.service.start(sim.mainSend)
    return sim
  }

  get clock(): VirtualClock {
    return this.world.clock
  }

  /**
   * A new site with one peer of `kind` (`nat` overrides its router's options), or (`behind`) a second
   * host behind an existing router.
   */
  addPeer(kind: PeerKind, opts: { behind?: SimNat; nat?: Partial<NatOptions> } = {}): SimPeer {
    const { net } = this.world
    const n = ++this.sites
    let router: SimNat | null = opts.behind ?? null
    let host: SimHost
    if (router) host = net.host(`198.19.${router.publicIp.split('.')[2]}.${n + 1}`, { behind: router })
    else if (kind === 'public') host = net.host(`203.0.113.${10 + n}`)
    else if (kind === 'firewalled') {
      router = net.nat(`203.0.113.${100 + n}`, { ...NAT_PRESETS.statefulFirewall, ...opts.nat })
      host = net.host(router.publicIp, { behind: router })
    } else {
      const preset = {
        cone: NAT_PRESETS.portRestrictedCone,
        symmetric: NAT_PRESETS.symmetric,
        blocked: NAT_PRESETS.udpBlocked,
      }[kind]
      router = net.nat(`198.18.${n}.1`, { ...preset, ...opts.nat })
      host = net.host(`198.19.${n}.2`, { behind: router })
    }
    const peerId = new Uint8Array(20).fill(n)
    const socket = host.bind(PEER_PORT)
    // The token comes the way an announce response carries it: bound to the address the tracker saw.
    const offer = buildAnnounceExtension(this.service, {
      infoHash: this.infoHash,
      peerId,
      ip: router?.publicIp ?? host.ip,
      udpPort: TRACKER_PORT,
    })
    const sockets: MemorySocket[] = []
    const probes: ProbeSent[] = []
    this.track(socket, sockets, probes)
    const client = new RendezvousClient(
      {
        tracker: this.tracker,
        altTracker: { address: TRACKER_IP, port: offer['alt port'] as number, family: 'IPv4' },
        peerId,
        lan: socket.address(),
        punch: this.options.punch,
      },
      {
        socket,
        clock: this.clock,
        random: xorshiftRandom(this.world.seed * 7919 + n),
        openSocket: async () => this.track(host.bind(0), sockets, probes),
      },
    )
    const token = offer.token as Uint8Array
    const peer: SimPeer = {
      kind,
      peerId,
      host,
      router,
      socket,
      client,
      token,
      sockets,
      probes,
      punched: [],
      failures: [],
    }
    socket.on('message', (b) => {
      if (peer.pushAt === undefined && rendezvousType(b) === MESSAGE_TYPES.connectPush)
        peer.pushAt = this.clock.now()
    })
    client.on('punched', (path) => peer.punched.push({ path, at: this.clock.now() }))
    client.on('punchFailed', (err) => peer.failures.push(err))
    client.on('trackerError', (err) => peer.failures.push(err))
    return peer
  }

  /** Classifies the peer's NAT and registers it for the swarm, as a client does after announcing. */
  async join(peer: SimPeer): Promise<void> {
    await this.until(peer.client.classify(), 30_000)
    await this.until(peer.client.register(this.infoHash, peer.token), 30_000)
  }

  /** Runs the world until `promise` settles (or `limitMs` of simulated time passes: then throws). */
  async until<T>(promise: Promise<T>, limitMs: number): Promise<T> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined
    promise.then(
      (value) => {
        outcome = { ok: true, value }
      },
      (error) => {
        outcome = { ok: false, error }
      },
    )
    await this.runUntil(() => outcome !== undefined, limitMs)
    if (outcome === undefined) throw new Error(`still pending after ${limitMs} ms of simulated time`)
    if (!outcome.ok) throw outcome.error
    return outcome.value
  }

  /**
   * Fires timers one instant at a time, letting promise continuations run between instants: the
   * rendezvous client is async code, and an await resumes only once the microtask queue drains.
   */
  async runUntil(done: () => boolean, limitMs: number): Promise<boolean> {
    const clock = this.clock
    const limit = clock.now() + limitMs
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve))
      if (done()) return true
      const next = clock.nextEventTime()
      if (next === undefined || next > limit) {
        clock.advance(Math.max(0, limit - clock.now()))
        await new Promise<void>((resolve) => setImmediate(resolve))
        return done()
      }
      clock.advance(next - clock.now())
    }
  }

  async stop(peers: SimPeer[]): Promise<void> {
    for (const p of peers) p.client.stop()
    await this.service.stop()
  }

  /** Adds `socket` to a peer's `sockets` and logs its punch datagrams in `probes`. */
  private track(socket: MemorySocket, sockets: MemorySocket[], probes: ProbeSent[]): MemorySocket {
    const index = sockets.push(socket) - 1
    const send = socket.send.bind(socket)
    socket.send = (bytes, to) => {
      if (rendezvousType(bytes) === MESSAGE_TYPES.punch)
        probes.push({ t: this.clock.now(), socket: index, to })
      send(bytes, to)
    }
    return socket
  }
}

/** Most punch datagrams a peer sent within any `windowMs`. */
export function peakProbes(peer: SimPeer, windowMs = 1000): number {
  let peak = 0
  let lo = 0
  for (let hi = 0; hi < peer.probes.length; hi++) {
    while (peer.probes[hi]!.t - peer.probes[lo]!.t >= windowMs) lo++
    peak = Math.max(peak, hi - lo + 1)
  }
  return peak
}
