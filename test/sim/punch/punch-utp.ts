import { createHash } from 'node:crypto'
import type { UtpSink } from '../../../client/utp/utp-endpoint.js'
import { addressKey, type UdpAddress } from '../../../protocol/datagram-socket.js'
import type { UtpConnection } from '../../../protocol/utp/utp-connection.js'
import { xorshiftRandom } from '../../helpers/xorshift-random.js'
import type { MemorySocket } from '../memory-network.js'
import { simEndpoint } from '../utp/utp-sim.js'
import type { PunchSim } from './punch-sim.js'

/** What one side of an exchange received. */
export interface Inbound {
  bytes: number
  hash: ReturnType<typeof createHash>
  ended: boolean
  error?: unknown
  /** Where the accepting side saw the connection come from. */
  remote?: UdpAddress
}

export interface Exchange {
  /** The requester's and the target's view. */
  atRequester: Inbound
  atTarget: Inbound
  sentByRequester: string
  sentByTarget: string
}

const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')
const inbound = (): Inbound => ({ bytes: 0, hash: createHash('sha256'), ended: false })

function sink(
  side: Inbound,
  connection: () => UtpConnection,
  payload: Uint8Array,
): UtpSink & { send(): void } {
  let sent = false
  const send = () => {
    if (sent) return
    sent = true
    connection().write(payload)
    connection().end()
  }
  return {
    send,
    onConnect: () => {},
    onData: (chunk) => {
      side.bytes += chunk.length
      side.hash.update(chunk)
    },
    onEnd: () => {
      side.ended = true
    },
    onDrain: () => {},
    onFinish: () => {},
    onClose: (error) => {
      if (error) side.error = error
    },
    readBacklog: () => 0,
  }
}

/**
 * Runs the real UtpEndpoint over a punched path, both ways at once: the requester dials `to` from
 * `requesterSocket`, the target accepts on `targetSocket`, and each sends `bytes` seeded bytes.
 */
export function startExchange(
  sim: PunchSim,
  requesterSocket: MemorySocket,
  to: UdpAddress,
  targetSocket: MemorySocket,
  bytes: number,
): Exchange {
  const gen = xorshiftRandom(sim.world.seed + 99)
  const fromRequester = gen.bytes(new Uint8Array(bytes))
  const fromTarget = gen.bytes(new Uint8Array(bytes))
  const ex: Exchange = {
    atRequester: inbound(),
    atTarget: inbound(),
    sentByRequester: digest(fromRequester),
    sentByTarget: digest(fromTarget),
  }
  const server = simEndpoint(sim.world, targetSocket)
  server.listen((connection, remote) => {
    ex.atTarget.remote = remote
    const s = sink(ex.atTarget, () => connection, fromTarget)
    // The accepting side answers once the dialler's first bytes are in, as a BitTorrent peer answers
    // a handshake. (It could write at once; see docs/punch-simulation.md for why it does not here.)
    const onData = s.onData
    s.onData = (chunk) => {
      onData(chunk)
      s.send()
    }
    return s
  })
  const client = simEndpoint(sim.world, requesterSocket)
  let connection: UtpConnection | undefined
  const s = sink(ex.atRequester, () => connection!, fromRequester)
  s.onConnect = s.send
  connection = client.open(to, () => s)
  return ex
}

/** Both sides received everything, byte-exact, and the end of the stream. */
export function exchangeDone(ex: Exchange): boolean {
  return ex.atRequester.ended && ex.atTarget.ended
}

export function received(side: Inbound): string {
  return side.hash.copy().digest('hex')
}

export const remoteKey = (side: Inbound) => (side.remote ? addressKey(side.remote) : undefined)
