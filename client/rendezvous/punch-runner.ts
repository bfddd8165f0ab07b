import type { Clock, Random, TimerHandle } from '../../protocol/clock.js'
import type { DatagramSocket, UdpAddress } from '../../protocol/datagram-socket.js'
import { PunchError } from '../../protocol/errors.js'
import type { PunchOptions, PunchPlan, PunchStrategy } from '../../protocol/punch/punch-plan.js'
import { type PunchEffects, PunchSession } from '../../protocol/punch/punch-session.js'
import { decodeRendezvous } from '../../protocol/rendezvous/rendezvous-codec.js'
import type { Punch } from '../../protocol/rendezvous/rendezvous-messages.js'
import { isRendezvous } from '../../protocol/udp-framing.js'

/** The default IP TTL restored after low-TTL probes. */
export const DEFAULT_TTL = 64
/** A settled session keeps answering probes this long, so the far side settles too. */
export const LINGER_MS = 5_000

/** A punched path: run uTP to `address` on `socket`. */
export interface PunchedPath {
  infoHash: Uint8Array
  peerId: Uint8Array
  address: UdpAddress
  socket: DatagramSocket
  role: 'requester' | 'target'
  /** How this side punched (from both NAT classes). */
  strategy: PunchStrategy
  elapsedMs: number
}

type Settlement =
  | { ok: true; socket: number; path: UdpAddress; elapsedMs: number }
  | { ok: false; error: unknown }

interface Running {
  session: PunchSession
  sockets: DatagramSocket[]
  timer?: TimerHandle
  detach: () => void
  settle: (s: Settlement) => void
}

const nonceKey = (n: Uint8Array) => Buffer.from(n).toString('hex')

/** Carries out PunchSessions: sends their probes on the right socket with the right TTL, on the clock. */
export class PunchRunner {
  private readonly running = new Map<string, Running>()
  /** Sockets whose TTL is still lowered for punch probes, until the restore timer runs. */
  private readonly lowered = new Set<DatagramSocket>()

  constructor(
    private readonly options: PunchOptions,
    private readonly deps: {
      socket: DatagramSocket
      clock: Clock
      random: Random
      openSocket?: () => Promise<DatagramSocket>
    },
  ) {}

  has(nonce: Uint8Array): boolean {
    return this.running.has(nonceKey(nonce))
  }

  /** A punch datagram that arrived on the shared socket. */
  onPunch(msg: Punch, from: UdpAddress, socket: DatagramSocket): void {
    const r = this.running.get(nonceKey(msg.nonce))
    if (!r) return
    const index = r.sockets.indexOf(socket)
    if (index >= 0) this.apply(r, r.session.onPunch(msg, from, index, this.deps.clock.now()))
  }

  async run(
    plan: PunchPlan,
    ctx: { infoHash: Uint8Array; role: 'requester' | 'target'; signal?: AbortSignal },
  ): Promise<PunchedPath> {
    const session = new PunchSession(plan, this.options, { random: this.deps.random })
    const sockets = [this.deps.socket]
    if (session.extraSocketsNeeded > 0 && this.deps.openSocket) {
      for (let i = 0; i < session.extraSocketsNeeded; i++) sockets.push(await this.deps.openSocket())
    }
    ctx.signal?.throwIfAborted()
    const key = nonceKey(plan.nonce)
    return new Promise<PunchedPath>((resolve, reject) => {
      // Extra sockets have no other reader: route their punch datagrams here.
      const listeners = sockets.slice(1).map((s) => {
        const l = (b: Uint8Array, from: UdpAddress) => {
          if (!isRendezvous(b)) return
          try {
            const m = decodeRendezvous(b)
            if (m.type === 'punch') this.onPunch(m, from, s)
          } catch {}
        }
        s.on('message', l)
        return () => s.off('message', l)
      })
      const onAbort = () => settle({ ok: false, error: ctx.signal!.reason })
      const settle = (result: Settlement) => {
        if (result.ok) {
          // Keep the winning socket; close the extra ones that lost.
          sockets.forEach((s, i) => {
            if (i > 0 && i !== result.socket) s.close()
          })
          resolve({
            infoHash: ctx.infoHash,
            peerId: plan.peerPeerId,
            address: result.path,
            socket: sockets[result.socket]!,
            role: ctx.role,
            strategy: session.strategy,
            elapsedMs: result.elapsedMs,
          })
          this.deps.clock.setTimer(LINGER_MS, () => this.finish(key))
        } else {
          for (const s of sockets.slice(1)) s.close()
          this.finish(key)
          reject(result.error)
        }
      }
      const r: Running = {
        session,
        sockets,
        settle,
        detach: () => {
          for (const off of listeners) off()
          ctx.signal?.removeEventListener('abort', onAbort)
        },
      }
      this.running.set(key, r)
      ctx.signal?.addEventListener('abort', onAbort, { once: true })
      this.apply(r, session.start(this.deps.clock.now()))
    })
  }

  stop(): void {
    for (const key of [...this.running.keys()]) {
      const r = this.running.get(key)!
      if (r.session.current === 'waiting' || r.session.current === 'probing') {
        r.settle({ ok: false, error: new PunchError('PUNCH_REFUSED', 'stopped') })
      }
      this.finish(key)
    }
  }

  private finish(key: string): void {
    const r = this.running.get(key)
    if (!r) return
    if (r.timer) this.deps.clock.clearTimer(r.timer)
    r.detach()
    this.running.delete(key)
  }

  private apply(r: Running, fx: PunchEffects): void {
    const lowered: DatagramSocket[] = []
    for (const s of fx.sends) {
      const socket = r.sockets[s.socket]
      if (!socket) continue
      if (s.ttl !== undefined && socket.setTTL) {
        socket.setTTL(s.ttl)
        this.lowered.add(socket)
        lowered.push(socket)
      } else if (this.lowered.delete(socket)) {
        // Still low from this or an earlier round (the restore below waits for a timer): an answer to
        // a probe that arrives meanwhile must reach the peer, not die at the low TTL.
        socket.setTTL?.(DEFAULT_TTL)
      }
      socket.send(s.bytes, s.to)
    }
    // Restore the TTL once the sends have left (node's dgram sends after a tick).
    if (lowered.length) {
      this.deps.clock.setTimer(1, () => {
        for (const s of lowered) if (this.lowered.delete(s)) s.setTTL?.(DEFAULT_TTL)
      })
    }
    if (fx.result) r.settle(fx.result)
    if (r.timer) this.deps.clock.clearTimer(r.timer)
    const due = r.session.nextDeadline()
    if (due !== undefined) {
      r.timer = this.deps.clock.setTimer(Math.max(0, due - this.deps.clock.now()), () =>
        this.apply(r, r.session.onTimer(this.deps.clock.now())),
      )
    }
  }
}
