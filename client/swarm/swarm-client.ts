import { randomBytes } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { EventEmitter } from 'node:events'
import { createServer, type Server, Socket, connect as tcpConnect } from 'node:net'
import type { Duplex } from 'node:stream'
import type Wire from 'bittorrent-protocol'
import type { Logger } from 'pino'
import type { Clock, Random } from '../../protocol/clock.js'
import type { UdpAddress } from '../../protocol/datagram-socket.js'
import { PunchError, TransportError } from '../../protocol/errors.js'
import { DhtNode, type DhtNodeOptions } from '../dht/dht-node.js'
import { LocalDiscovery } from '../lsd/local-discovery.js'
import type { Metainfo } from '../metainfo/metainfo-types.js'
import { realClock, realRandom } from '../real-clock.js'
import { RendezvousClient } from '../rendezvous/rendezvous-client.js'
import type { RendezvousOffer } from '../tracker-client/rendezvous-offer.js'
import { UdpSocket } from '../udp-socket.js'
import { UtpEndpoint } from '../utp/utp-endpoint.js'
import {
  answerEncryption,
  type EncryptionMode,
  newWire,
  startEncryption,
  wireEncryption,
} from './peer-encryption.js'
import type { PeerTransport } from './peer-link.js'
import { PunchedPathWatch } from './punched-path-watch.js'
import { TorrentSession } from './torrent-session.js'

export interface SwarmClientOptions {
  /** @default '0.0.0.0' */
  host?: string
  /** TCP and UDP (uTP) listen on this one port; 0 picks a free one. @default 0 */
  port?: number
  /** @default true */
  tcp?: boolean
  /** @default true */
  utp?: boolean
  /** @default '-PS0001-' and 12 random bytes */
  peerId?: Uint8Array
  /** A dial that takes longer fails (and falls back from uTP to TCP). @default 5000 */
  dialTimeoutMs?: number
  /**
   * Take part in trackers' rendezvous (docs/protocol/connect-request.md): register this socket so
   * peers behind NAT can ask for a punch, and punch to the firewalled peers trackers list. Needs uTP.
   * @default true
   */
  punch?: boolean
  /**
   * MSE/PE (peer-encryption.ts): every mode accepts encrypted incoming connections; 'prefer' dials
   * with PE (either payload) and retries in plaintext, 'allow' dials in plaintext, 'require' dials
   * with RC4 and refuses plaintext peers. @default 'prefer'
   */
  encryption?: EncryptionMode
  /**
   * An incoming connection that has not completed its handshake (an encrypted one included) by then
   * is closed: bytes that are neither a handshake nor the start of PE would hold it open. @default 10000
   */
  handshakeTimeoutMs?: number
  /**
   * Run a mainline DHT node (BEP 5) on the shared UDP socket, joined through these contacts, and find
   * and announce every torrent that is not private there. Off unless given.
   */
  dht?: DhtNodeOptions
  /**
   * Local service discovery (BEP 14): announce every torrent that is not private on the LAN by
   * multicast and dial the local peers that announce it. Off unless true.
   */
  lsd?: boolean
}

export interface SwarmClientDeps {
  clock?: Clock
  random?: Random
  logger?: Logger
}

export interface SwarmClientEvents {
  connection: [info: { address: string; port: number; transport: PeerTransport }]
  /** A punch to or from a firewalled peer opened a path. */
  punched: [info: { address: string; port: number; role: 'requester' | 'target' }]
}

/**
 * The client's network side: one TCP listener and one UDP socket on the same port (as libtorrent
 * does), the UDP socket shared by uTP, BEP 15 announces and, in the NAT work, the rendezvous
 * protocol. Incoming connections go to the torrent whose info hash their handshake names.
 */
export class SwarmClient extends EventEmitter<SwarmClientEvents> {
  readonly peerId: Uint8Array
  private readonly sessions = new Map<string, TorrentSession>()
  private readonly clock: Clock
  private readonly random: Random
  private readonly open = new Set<Duplex>()
  private rendezvous: Promise<RendezvousClient> | undefined
  /** Firewalled peers (by peer id) punched to recently: not asked for again until this time. */
  private readonly punchedAt = new Map<string, number>()
  /**
   * Endpoints (`ip:port`) of firewalled peers, from trackers' offers and punched paths: a dial to one
   * of them is a connect-request and a punch, never a packet to an endpoint whose mapping may be gone.
   */
  private readonly firewalled = new Map<string, { session: TorrentSession; peerId: Uint8Array }>()
  /** Peers (hex peer id) a punch is under way to. */
  private readonly punching = new Set<string>()
  private readonly paths: PunchedPathWatch
  private readonly extraEndpoints: UtpEndpoint[] = []
  /** Birthday-probing sockets the rendezvous opened from behind a symmetric NAT; closed with the client. */
  private readonly extraSockets: UdpSocket[] = []
  /** The DHT node, when `options.dht` asked for one. */
  readonly dht: DhtNode | undefined
  /** Local service discovery per torrent (info hash hex), when `options.lsd`. */
  private readonly lsd = new Map<string, LocalDiscovery>()

  private constructor(
    private readonly options: SwarmClientOptions,
    private readonly deps: SwarmClientDeps,
    private readonly server: Server | undefined,
    readonly udpSocket: UdpSocket,
    private readonly utp: UtpEndpoint | undefined,
    readonly port: number,
  ) {
    super()
    this.clock = deps.clock ?? realClock
    this.random = deps.random ?? realRandom
    this.peerId = options.peerId ?? Uint8Array.from(Buffer.concat([Buffer.from('-PS0001-'), randomBytes(12)]))
    if (options.dht) {
      this.dht = new DhtNode(udpSocket, options.dht, this.clock)
      this.dht.on('peer', (infoHash, peer) => this.sessions.get(infoHash)?.addPeer(peer.address, peer.port))
      this.dht.on('warning', (message) => this.deps.logger?.debug({ message }, 'dht'))
    }
    // A punched path gone quiet: is our own mapping still the one registered? The keepalive's answer says.
    this.paths = new PunchedPathWatch({
      clock: this.clock,
      onSilent: () => {
        this.rendezvous?.then((r) => r.checkMapping()).catch(() => {})
      },
    })
    server?.on('connection', (socket: Socket) => {
      socket.setNoDelay(true)
      this.incoming(socket, socket.remoteAddress ?? '', socket.remotePort ?? 0, 'tcp')
    })
    utp?.on('connection', (stream) => this.incoming(stream, stream.remoteAddress, stream.remotePort, 'utp'))
  }

  /** Binds the TCP listener and the UDP socket on one port. */
  static async open(options: SwarmClientOptions = {}, deps: SwarmClientDeps = {}): Promise<SwarmClient> {
    const host = options.host ?? '0.0.0.0'
    const tcp = options.tcp ?? true
    const utp = options.utp ?? true
    if (!tcp && !utp) throw new TransportError('TRANSPORT_CLOSED', 'neither TCP nor uTP is enabled')
    // With port 0 the TCP port is picked first; its number may be taken for UDP, so try a few.
    for (let attempt = 0; ; attempt++) {
      let server: Server | undefined
      let port = options.port ?? 0
      if (tcp) {
        server = createServer()
        port = await listen(server, host, port)
      }
      try {
        const udpSocket = await UdpSocket.open({ host, port })
        port = udpSocket.address().port
        const endpoint = utp
          ? new UtpEndpoint(udpSocket, deps.clock ? { clock: deps.clock } : {}).listen()
          : undefined
        return new SwarmClient(options, deps, server, udpSocket, endpoint, port)
      } catch (err) {
        server?.close()
        if ((options.port ?? 0) !== 0 || attempt >= 5) throw err
      }
    }
  }

  /** Adds a torrent (or a magnet download, without metainfo) and starts it. */
  async add(o: {
    infoHash: Uint8Array
    metainfo?: Metainfo
    dir: string
    trackers?: string[][]
    maxUploadRate?: number
    maxDownloadRate?: number
    /** A magnet link's web seeds (BEP 19 `ws`). */
    webSeeds?: string[]
    signal?: AbortSignal
  }): Promise<TorrentSession> {
    const session: TorrentSession = new TorrentSession(
      {
        infoHash: o.infoHash,
        ...(o.metainfo ? { metainfo: o.metainfo } : {}),
        trackers: o.trackers ?? o.metainfo?.announce ?? [],
        dir: o.dir,
        peerId: this.peerId,
        port: this.port,
        ...(o.maxUploadRate ? { maxUploadRate: o.maxUploadRate } : {}),
        ...(o.maxDownloadRate ? { maxDownloadRate: o.maxDownloadRate } : {}),
        ...(o.webSeeds ? { webSeeds: o.webSeeds } : {}),
      },
      {
        clock: this.clock,
        random: this.random,
        dial: (address, port) => this.dial(address, port, session),
        udpSocket: this.udpSocket,
        ...(this.utp && this.options.punch !== false
          ? {
              onRendezvousOffer: (s: TorrentSession, offer: RendezvousOffer, url: string) =>
                this.onOffer(s, offer, url),
            }
          : {}),
        ...(this.deps.logger ? { logger: this.deps.logger } : {}),
        ...(this.dht ? { dht: { port: this.port, onPeerNode: (c) => this.dht?.addNode(c) } } : {}),
      },
    )
    this.sessions.set(Buffer.from(o.infoHash).toString('hex'), session)
    await session.start(o.signal ? { signal: o.signal } : {})
    const dht = this.dht
    if (dht && !o.metainfo?.private) {
      // The port the DHT sees our datagrams come from is where uTP answers (through a NAT too), so
      // announce that (`implied_port`); without uTP, the TCP port.
      dht.track(o.infoHash, { port: this.utp ? 0 : this.port, downloading: () => !session.complete })
      // BEP 27: a magnet link's torrent may turn out private once its info dictionary arrives.
      session.once('metadata', (m) => {
        if (m.private) dht.untrack(o.infoHash)
      })
    }
    if (this.options.lsd && !o.metainfo?.private) {
      const hex = Buffer.from(o.infoHash).toString('hex')
      const local = new LocalDiscovery({
        peerId: this.peerId,
        infoHash: o.infoHash,
        port: this.port,
        onPeer: (p) => session.addPeer(p.address, p.port),
        onWarning: (message) => this.deps.logger?.debug({ message }, 'lsd'),
      })
      this.lsd.set(hex, local)
      session.once('metadata', (m) => {
        if (m.private) local.close()
      })
    }
    return session
  }

  /** Stops every torrent (announcing `stopped`) and closes the sockets. */
  async close(): Promise<void> {
    // Sockets close even when a torrent fails to stop cleanly (say its resume file cannot be written
    // because the data directory vanished): a client that keeps its sockets never exits.
    const stopped = await Promise.allSettled([...this.sessions.values()].map((s) => s.stop()))
    this.sessions.clear()
    await this.dht?.close()
    for (const local of this.lsd.values()) local.close()
    this.paths.stop()
    for (const s of this.open) s.destroy()
    if (this.rendezvous) (await this.rendezvous.catch(() => undefined))?.stop()
    for (const e of this.extraEndpoints) e.close()
    for (const s of this.extraSockets) s.close()
    this.utp?.close()
    this.udpSocket.close()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    const failed = stopped.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) throw failed.reason
  }

  /**
   * A tracker offered its rendezvous: register this socket for the swarm (again with each announce's
   * token: a no-op while the registration lives, a re-registration once the tracker lost it), and
   * punch to the firewalled peers it lists. Never throws: a peer that cannot be punched is just not
   * connected.
   */
  private async onOffer(session: TorrentSession, offer: RendezvousOffer, trackerUrl: string): Promise<void> {
    try {
      const client = await this.rendezvousClient(offer, trackerUrl)
      await client.register(session.infoHash, offer.token)
      const now = this.clock.now()
      for (const f of offer.firewalled) {
        const id = Buffer.from(f.peerId).toString('hex')
        if (Buffer.from(f.peerId).equals(Buffer.from(this.peerId))) continue
        this.firewalled.set(endpointKey(f.endpoint), { session, peerId: f.peerId })
        if (session.hasPeerId(id) || this.punching.has(id)) continue
        if ((this.punchedAt.get(id) ?? Number.NEGATIVE_INFINITY) > now) continue
        this.punchedAt.set(id, now + 60_000)
        this.punchTo(session, f.peerId)
          .then(({ wire, address }) =>
            session.attach(wire, {
              address: address.address,
              port: address.port,
              transport: 'utp',
              direction: 'out',
            }),
          )
          .catch((err: Error) => this.deps.logger?.debug({ peer: id, err: err.message }, 'punch failed'))
      }
    } catch (err) {
      this.deps.logger?.debug({ err: (err as Error).message }, 'rendezvous failed')
    }
  }

  /**
   * 1. A connect-request for the peer, 2. the punch, 3. uTP over the punched path (from the socket
   * the punch succeeded on: an extra birthday socket from behind a symmetric NAT), 4. the wire, watched
   * while it lives. When it dies the session is told of the peer's endpoint again, and its
   * reconnect-with-backoff dials it, which `dial()` turns into a new connect-request.
   */
  private async punchTo(
    session: TorrentSession,
    peerId: Uint8Array,
  ): Promise<{ wire: Wire; address: UdpAddress }> {
    const id = Buffer.from(peerId).toString('hex')
    if (session.hasPeerId(id) || this.punching.has(id)) {
      throw new PunchError('PUNCH_DUPLICATE', 'already connected or punching to that peer')
    }
    if (!this.rendezvous) throw new PunchError('PUNCH_TOKEN_INVALID', 'no tracker offered its rendezvous')
    this.punching.add(id)
    try {
      const client = await this.rendezvous
      // 1. and 2.
      const path = await client.connect(session.infoHash, peerId, {
        signal: this.clock.timeoutSignal(15_000),
      })
      this.emit('punched', { address: path.address.address, port: path.address.port, role: 'requester' })
      // 3.
      let endpoint = this.utp!
      if (path.socket !== this.udpSocket) {
        endpoint = new UtpEndpoint(path.socket, this.deps.clock ? { clock: this.deps.clock } : {})
        this.extraEndpoints.push(endpoint)
      }
      const { wire, stream } = await this.openWire(
        () => endpoint.connect(path.address, { signal: this.clock.timeoutSignal(10_000) }),
        'utp',
        session,
      )
      this.firewalled.set(endpointKey(path.address), { session, peerId })
      // 4.
      this.paths.watch(stream, wire)
      stream.once('close', () => session.addPeer(path.address.address, path.address.port))
      return { wire, address: path.address }
    } finally {
      this.punching.delete(id)
    }
  }

  /** One rendezvous client per socket: the socket's NAT mapping is what it registers. */
  private rendezvousClient(offer: RendezvousOffer, trackerUrl: string): Promise<RendezvousClient> {
    this.rendezvous ??= (async () => {
      const { address } = await lookup(new URL(trackerUrl).hostname, { family: 4 })
      const client = new RendezvousClient(
        {
          tracker: { address, port: offer.udpPort },
          altTracker: offer.altPort ? { address, port: offer.altPort } : undefined,
          peerId: this.peerId,
        },
        {
          socket: this.udpSocket,
          clock: this.clock,
          random: this.random,
          openSocket: async () => {
            const socket = await UdpSocket.open({ host: this.options.host ?? '0.0.0.0' })
            this.extraSockets.push(socket)
            return socket
          },
        },
      )
      client.on('punched', (path) => {
        // The requester's uTP SYN arrives on the socket the punch succeeded on; listen there too.
        if (path.socket !== this.udpSocket) {
          const endpoint = new UtpEndpoint(
            path.socket,
            this.deps.clock ? { clock: this.deps.clock } : {},
          ).listen()
          endpoint.on('connection', (stream) =>
            this.incoming(stream, stream.remoteAddress, stream.remotePort, 'utp'),
          )
          this.extraEndpoints.push(endpoint)
        }
        this.emit('punched', { address: path.address.address, port: path.address.port, role: 'target' })
      })
      client.on('trackerError', (err) =>
        this.deps.logger?.debug({ err: (err as Error).message }, 'rendezvous registration failed'),
      )
      client.on('punchFailed', () => {})
      // Our public endpoint moved: peers still send to the old one, so every punched path is dead.
      // Closing them makes the sessions dial those peers again, through new connect-requests.
      client.on('mappingChanged', (observed) => {
        this.deps.logger?.info({ observed, paths: this.paths.size }, 'mapping changed: re-punching')
        this.paths.closeAll('our NAT mapping changed')
      })
      // The tracker lost our registration (restarted): a fresh announce brings a fresh token.
      client.on('registrationRefused', (infoHash) =>
        this.sessions.get(Buffer.from(infoHash).toString('hex'))?.reannounce(),
      )
      await client.classify()
      return client
    })()
    return this.rendezvous
  }

  /**
   * Opens a wire to a peer: a firewalled peer through a connect-request and a punch; others uTP first
   * (the transport of punched paths), TCP if that fails.
   */
  private async dial(
    address: string,
    port: number,
    session: TorrentSession,
  ): Promise<{ wire: Wire; transport: PeerTransport }> {
    const firewalled = this.firewalled.get(`${address}:${port}`)
    if (firewalled) {
      const { wire } = await this.punchTo(firewalled.session, firewalled.peerId)
      return { wire, transport: 'utp' }
    }
    const timeout = this.options.dialTimeoutMs ?? 5000
    let lastError: unknown
    const utp = this.utp
    if (utp) {
      try {
        const { wire, stream } = await this.openWire(
          () => utp.connect({ address, port }, { signal: this.clock.timeoutSignal(timeout) }),
          'utp',
          session,
        )
        // Watched like a punched path: a plain dial to a peer behind NAT rides the hole a punch opened.
        this.paths.watch(stream, wire)
        return { wire, transport: 'utp' }
      } catch (err) {
        lastError = err
      }
    }
    if (this.server) {
      try {
        const { wire } = await this.openWire(() => connectTcp(address, port, timeout), 'tcp', session)
        return { wire, transport: 'tcp' }
      } catch (err) {
        lastError = err
      }
    }
    throw lastError
  }

  private incoming(stream: Duplex, address: string, port: number, transport: PeerTransport): void {
    const mode = this.options.encryption ?? 'prefer'
    const wire = this.wireOver(stream, newWire('in', transport, mode))
    if (transport === 'utp') this.paths.watch(stream, wire)
    answerEncryption(wire, () => this.sessions.keys())
    const deadline = this.clock.setTimer(this.options.handshakeTimeoutMs ?? 10_000, () => wire.destroy())
    wire.once('close', () => this.clock.clearTimer(deadline))
    wire.once('handshake', (infoHash: string) => {
      this.clock.clearTimer(deadline)
      const session = this.sessions.get(infoHash)
      if (!session || (mode === 'require' && wireEncryption(wire) !== 'rc4')) {
        wire.destroy()
        return
      }
      session.attach(wire, { address, port, transport, direction: 'in' })
      this.emit('connection', { address, port, transport })
    })
  }

  /**
   * A wire over a connection `connect` opens. With 'prefer' (the default) the connection opens with
   * PE; a peer that closes it or stays silent instead (one that does not speak PE) gets a second
   * connection in plaintext, as libtorrent retries.
   */
  private async openWire(
    connect: () => Promise<Duplex>,
    transport: PeerTransport,
    session: TorrentSession,
  ): Promise<{ wire: Wire; stream: Duplex }> {
    const mode = this.options.encryption ?? 'prefer'
    const stream = await connect()
    try {
      return { wire: await this.outgoingWire(stream, transport, session, mode), stream }
    } catch (err) {
      if (mode !== 'prefer' || !(err instanceof TransportError)) throw err
      const plain = await connect()
      return { wire: await this.outgoingWire(plain, transport, session, 'allow'), stream: plain }
    }
  }

  /** A wire for a connection we opened; unless plaintext, once PE is done (with RC4 if required). */
  private async outgoingWire(
    stream: Duplex,
    transport: PeerTransport,
    session: TorrentSession,
    mode: EncryptionMode,
  ): Promise<Wire> {
    const wire = this.wireOver(stream, newWire('out', transport, mode))
    if (mode !== 'allow') {
      const infoHash = Buffer.from(session.infoHash).toString('hex')
      await startEncryption(wire, infoHash, this.clock.timeoutSignal(this.options.dialTimeoutMs ?? 5000))
      if (mode === 'require' && wireEncryption(wire) !== 'rc4') {
        wire.destroy()
        throw new TransportError(
          'TRANSPORT_REFUSED',
          'the peer answered the encrypted handshake in plaintext',
        )
      }
    }
    return wire
  }

  /** Pipes `stream` and `wire` both ways; each one's end or error ends the other. */
  private wireOver(stream: Duplex, wire: Wire): Wire {
    this.open.add(stream)
    stream.on('error', () => wire.destroy())
    stream.on('close', () => {
      this.open.delete(stream)
      wire.destroy()
    })
    wire.on('error', () => stream.destroy())
    wire.on('close', () => stream.destroy())
    stream.pipe(wire as unknown as NodeJS.WritableStream)
    if (stream instanceof Socket) corkedPipe(wire, stream)
    else wire.pipe(stream)
    return wire
  }
}

/**
 * Wire to TCP socket, one write per event-loop turn: the wire emits each message on its own (a
 * 17-byte request, a have), and with Nagle off each would be its own syscall and segment. Corking
 * until the turn ends sends them together. (uTP needs no such thing: its endpoint already packs a
 * turn's writes into full packets.)
 */
function corkedPipe(wire: Wire, socket: Socket): void {
  let corked = false
  wire.on('data', (chunk: Uint8Array) => {
    if (!corked) {
      corked = true
      socket.cork()
      setImmediate(() => {
        corked = false
        socket.uncork()
      })
    }
    if (!socket.write(chunk)) {
      wire.pause()
      socket.once('drain', () => wire.resume())
    }
  })
  wire.on('end', () => socket.end())
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new TransportError('TRANSPORT_SOCKET_ERROR', `cannot listen on TCP ${host}:${port}: ${err.message}`),
      ),
    )
    server.listen(port, host, () => {
      const a = server.address()
      resolve(typeof a === 'object' && a ? a.port : port)
    })
  })
}

function connectTcp(address: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: address, port })
    socket.setNoDelay(true)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new TransportError('TRANSPORT_TIMEOUT', `TCP connect to ${address}:${port} timed out`))
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      resolve(socket)
    })
    socket.once('error', (err) => {
      clearTimeout(timer)
      reject(new TransportError('TRANSPORT_REFUSED', `TCP connect to ${address}:${port}: ${err.message}`))
    })
  })
}

function endpointKey(a: UdpAddress): string {
  return `${a.address}:${a.port}`
}
