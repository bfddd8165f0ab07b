import type { Logger } from 'pino'
import { UdpSocket } from '../../client/udp-socket.js'
import type { Clock } from '../../protocol/clock.js'
import type { UdpAddress } from '../../protocol/datagram-socket.js'
import type { RequestLimiter } from '../request-limiter.js'
import type { TrackerStats } from '../stats/tracker-stats.js'
import type { SwarmStore } from '../store/swarm-store.js'
import { UdpTrackerHandler } from './udp-tracker-handler.js'

/** Socket buffers asked for: loopback bursts overflow the kernel default (docs/benchmarks.md). */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024

export interface RunningUdpTracker {
  port: number
  /** Sends from the tracker's port (the rendezvous relay answers and pushes from here). */
  send(bytes: Uint8Array, to: UdpAddress): void
  close(): Promise<void>
}

/** Binds the tracker's UDP port: BEP 15 and, through `onRendezvous`, the rendezvous protocol. */
export async function bindUdpTracker(
  options: {
    host: string
    port: number
    onRendezvous?: (bytes: Uint8Array, from: UdpAddress) => void
  },
  deps: {
    store: SwarmStore
    clock: Clock
    stats: TrackerStats
    logger: Logger
    secret: Uint8Array
    intervalSeconds: number
    limiter?: RequestLimiter
  },
): Promise<RunningUdpTracker> {
  // The client's UDP socket: on Linux the batched addon (docs/utp.md), else node:dgram.
  const socket = await UdpSocket.open({
    host: options.host,
    port: options.port,
    type: options.host.includes(':') ? 'udp6' : 'udp4',
    recvBufferSize: SOCKET_BUFFER_BYTES,
    sendBufferSize: SOCKET_BUFFER_BYTES,
  })
  const handler = new UdpTrackerHandler(
    { intervalSeconds: deps.intervalSeconds },
    { ...deps, onRendezvous: options.onRendezvous },
  )
  socket.on('message', (msg, from) => {
    try {
      const reply = handler.handle(msg, from)
      if (reply) socket.send(reply, from)
    } catch (err) {
      deps.logger.error({ err }, 'udp tracker handler failed')
    }
  })
  socket.on('error', (err) => deps.logger.warn({ err }, 'udp tracker socket error'))
  return {
    port: socket.address().port,
    send: (bytes, to) => socket.send(bytes, to),
    close: () =>
      new Promise<void>((resolve) => {
        socket.once('close', () => resolve())
        socket.close()
      }),
  }
}
