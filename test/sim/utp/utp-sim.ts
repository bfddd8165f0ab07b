import { createHash, type Hash } from 'node:crypto'
import {
  UtpEndpoint as Endpoint,
  type UtpEndpoint,
  type UtpEndpointOptions,
} from '../../../client/utp/utp-endpoint.js'
import { addressKey, type UdpAddress } from '../../../protocol/datagram-socket.js'
import type { TransportError } from '../../../protocol/errors.js'
import type { UtpConnection } from '../../../protocol/utp/utp-connection.js'
import { xorshiftRandom } from '../../helpers/xorshift-random.js'
import { MemoryNetwork, type MemorySocket } from '../memory-network.js'
import { VirtualClock } from '../virtual-clock.js'

/** One seeded world: virtual clock, in-memory network, and the randomness both draw from. */
export interface SimWorld {
  clock: VirtualClock
  net: MemoryNetwork
  seed: number
}

export function simWorld(seed: number): SimWorld {
  const clock = new VirtualClock()
  return { clock, net: new MemoryNetwork({ clock, random: xorshiftRandom(seed) }), seed }
}

/** The real UtpEndpoint on a memory socket, its timers and ack batching on the virtual clock. */
export function simEndpoint(
  world: SimWorld,
  socket: MemorySocket,
  options: UtpEndpointOptions = {},
): UtpEndpoint {
  const { clock } = world
  return new Endpoint(socket, {
    ...options,
    clock,
    random: xorshiftRandom(world.seed ^ socket.address().port),
    defer: (fn) => clock.setTimer(0, fn),
  })
}

/** What the receiving side of a transfer saw. */
export interface Received {
  bytes: number
  hash: Hash
  ended: boolean
  error?: TransportError
  /** (time, total bytes) samples, one per delivery, for throughput over a window. */
  at: (t: number) => number
  samples: { t: number; bytes: number }[]
}

export interface SimTransfer {
  connection: UtpConnection
  total: number
  written: number
  sentDigest(): string
  receivedDigest(): string
  received: Received
  /** Sender saw its FIN acknowledged. */
  finished: boolean
  error?: TransportError
  errorAt?: number
  startedAt: number
}

/**
 * Accepts connections on `server` into receivers keyed by the sender's address, so several flows
 * can target one server. Returns the map `startTransfer` registers in.
 */
export function receiveInto(world: SimWorld, server: UtpEndpoint): Map<string, Received> {
  const receivers = new Map<string, Received>()
  server.listen((_connection, remote) => {
    let r: Received | undefined = receivers.get(addressKey(remote))
    if (!r) {
      // Nobody announced this sender: accept and count what it sends, like any listening peer.
      r = { bytes: 0, hash: createHash('sha256'), ended: false, samples: [], at: () => 0 }
      receivers.set(addressKey(remote), r)
    }
    return {
      onConnect: () => {},
      onData: (chunk) => {
        r.bytes += chunk.length
        r.hash.update(chunk)
        r.samples.push({ t: world.clock.now(), bytes: r.bytes })
      },
      onEnd: () => {
        r.ended = true
      },
      onDrain: () => {},
      onFinish: () => {},
      onClose: (error) => {
        if (error) r.error = error
      },
      readBacklog: () => 0,
    }
  })
  return receivers
}

/** Sends `total` seeded bytes from `client` to `to`, verifying them by hash at the other end. */
export function startTransfer(
  world: SimWorld,
  client: UtpEndpoint,
  to: UdpAddress,
  receivers: Map<string, Received>,
  total: number,
): SimTransfer {
  const gen = xorshiftRandom(world.seed * 31 + client.socket.address().port)
  const sentHash = createHash('sha256')
  const samples: { t: number; bytes: number }[] = []
  const received: Received = {
    bytes: 0,
    hash: createHash('sha256'),
    ended: false,
    samples,
    at: (t) => {
      // Bytes received by time t (binary search over the delivery samples).
      let lo = 0
      let hi = samples.length - 1
      let best = 0
      while (lo <= hi) {
        const mid = (lo + hi) >> 1
        if (samples[mid]!.t <= t) {
          best = samples[mid]!.bytes
          lo = mid + 1
        } else hi = mid - 1
      }
      return best
    },
  }
  receivers.set(addressKey(client.socket.address()), received)
  let ended = false
  const t: SimTransfer = {
    connection: undefined as unknown as UtpConnection,
    total,
    written: 0,
    sentDigest: () => sentHash.copy().digest('hex'),
    receivedDigest: () => received.hash.copy().digest('hex'),
    received,
    finished: false,
    startedAt: world.clock.now(),
  }
  const pump = () => {
    while (t.written < total) {
      const chunk = gen.bytes(new Uint8Array(Math.min(65_536, total - t.written)))
      sentHash.update(chunk)
      t.written += chunk.length
      if (!t.connection.write(chunk)) return
    }
    if (!ended) {
      ended = true
      t.connection.end()
    }
  }
  t.connection = client.open(to, () => ({
    onConnect: pump,
    onData: () => {},
    onEnd: () => {},
    onDrain: pump,
    onFinish: () => {
      t.finished = true
    },
    onClose: (error) => {
      if (error) {
        t.error = error
        t.errorAt = world.clock.now()
      }
    },
    readBacklog: () => 0,
  }))
  return t
}
