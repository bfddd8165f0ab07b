import type { Clock, Random, TimerHandle } from '../../protocol/clock.js'
import type { DatagramSocket, UdpAddress } from '../../protocol/datagram-socket.js'
import { PunchError } from '../../protocol/errors.js'
import { encodeRendezvous } from '../../protocol/rendezvous/rendezvous-codec.js'
import type { RendezvousMessage } from '../../protocol/rendezvous/rendezvous-messages.js'

/** Resend an unanswered request after this long, doubling each time. */
export const REQUEST_RETRY_MS = 400
/** Sends of one request before it fails. */
export const REQUEST_MAX_SENDS = 4

interface Pending {
  resolve: (m: { msg: RendezvousMessage; from: UdpAddress; rttMs: number }) => void
  reject: (e: unknown) => void
  timer: TimerHandle
  sentAt: number
}

type Request = RendezvousMessage & { txid: number }

/**
 * Request/answer exchanges with the tracker over the shared socket: each request gets a fresh
 * transaction id, is resent with back-off until answered, and resolves with the answer and the round
 * trip of the send that was answered. An `error` answer rejects with a PunchError.
 */
export class RendezvousTransactions {
  private readonly pending = new Map<number, Pending>()

  constructor(private readonly deps: { clock: Clock; random: Random }) {}

  request(
    socket: DatagramSocket,
    to: UdpAddress,
    build: (txid: number) => Request,
    opts: { signal?: AbortSignal; maxSends?: number } = {},
  ): Promise<{ msg: RendezvousMessage; from: UdpAddress; rttMs: number }> {
    opts.signal?.throwIfAborted()
    let txid: number
    do txid = this.deps.random.int(0x100000000)
    while (this.pending.has(txid))
    const bytes = encodeRendezvous(build(txid))
    const maxSends = opts.maxSends ?? REQUEST_MAX_SENDS
    return new Promise((resolve, reject) => {
      let sends = 0
      const onAbort = () => finish(() => reject(opts.signal!.reason))
      const finish = (f: () => void) => {
        const p = this.pending.get(txid)
        if (p) this.deps.clock.clearTimer(p.timer)
        this.pending.delete(txid)
        opts.signal?.removeEventListener('abort', onAbort)
        f()
      }
      const send = () => {
        if (sends >= maxSends) {
          finish(() =>
            reject(new PunchError('PUNCH_TIMEOUT', `tracker at ${to.address}:${to.port} did not answer`)),
          )
          return
        }
        const delay = REQUEST_RETRY_MS * 2 ** sends
        sends++
        const entry: Pending = {
          resolve: (m) => finish(() => resolve(m)),
          reject: (e) => finish(() => reject(e)),
          timer: this.deps.clock.setTimer(delay, send),
          sentAt: this.deps.clock.now(),
        }
        this.pending.set(txid, entry)
        socket.send(bytes, to)
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      send()
    })
  }

  /** Routes an answer to its request; returns false if it answers nothing pending. */
  answer(msg: RendezvousMessage, from: UdpAddress): boolean {
    const p = this.pending.get(msg.txid)
    if (!p) return false
    const rttMs = this.deps.clock.now() - p.sentAt
    if (msg.type === 'error') {
      const code =
        msg.code === 'needsRelay'
          ? 'PUNCH_NEEDS_RELAY'
          : msg.code === 'badToken'
            ? 'PUNCH_TOKEN_INVALID'
            : msg.code === 'notRegistered' || msg.code === 'notInSwarm'
              ? 'PUNCH_TARGET_UNKNOWN'
              : 'PUNCH_REFUSED'
      p.reject(new PunchError(code, `tracker refused: ${msg.message}`))
    } else {
      p.resolve({ msg, from, rttMs })
    }
    return true
  }

  /** Fails every pending request (on stop). */
  cancelAll(reason: unknown): void {
    for (const p of [...this.pending.values()]) p.reject(reason)
  }
}
