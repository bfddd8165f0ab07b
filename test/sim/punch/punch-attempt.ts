import type { PunchedPath } from '../../../client/rendezvous/punch-runner.js'
import { type PeerKind, PunchSim, type PunchWorldOptions, type SimPeer } from './punch-sim.js'

export interface Attempt {
  sim: PunchSim
  requester: SimPeer
  target: SimPeer
  /** The requester's punched path, or why its connect failed. */
  path?: PunchedPath
  error?: unknown
  /** When the requester's connect began, settled, and (if it did) when the target punched. */
  startedAt: number
  requesterDoneAt: number
  targetDoneAt?: number
  /** Both sides punched. */
  ok: boolean
  /** From the connect-push reaching the target until both sides have punched. */
  punchMs?: number
}

/**
 * One connect-request between two fresh peers in a fresh world: both classify and register, the
 * requester asks for the target, both punch. Bounded: the connect gets 15 s of simulated time, the
 * target as long again to settle.
 */
export async function attempt(
  seed: number,
  requesterKind: PeerKind,
  targetKind: PeerKind,
  options: PunchWorldOptions = {},
): Promise<Attempt> {
  const sim = await PunchSim.create(seed, options)
  const target = sim.addPeer(targetKind)
  const requester = sim.addPeer(requesterKind)
  await sim.join(target)
  await sim.join(requester)
  return connectPeers(sim, requester, target)
}

/** The requester asks the tracker for the target and both punch (they have joined already). */
export async function connectPeers(sim: PunchSim, requester: SimPeer, target: SimPeer): Promise<Attempt> {
  const startedAt = sim.clock.now()
  const punchedBefore = target.punched.length
  const pushBefore = target.pushAt
  target.pushAt = undefined
  let path: PunchedPath | undefined
  let error: unknown
  try {
    path = await sim.until(requester.client.connect(sim.infoHash, target.peerId), 15_000)
  } catch (err) {
    error = err
  }
  const requesterDoneAt = sim.clock.now()
  if (target.pushAt !== undefined) {
    await sim.runUntil(() => target.punched.length > punchedBefore || target.failures.length > 0, 15_000)
  }
  const targetDoneAt = target.punched[punchedBefore]?.at
  const ok = path !== undefined && targetDoneAt !== undefined
  const pushAt = target.pushAt ?? pushBefore
  return {
    sim,
    requester,
    target,
    path,
    error,
    startedAt,
    requesterDoneAt,
    targetDoneAt,
    ok,
    punchMs: ok && pushAt !== undefined ? Math.max(requesterDoneAt, targetDoneAt) - pushAt : undefined,
  }
}

/** The median and 95th percentile of `xs` (nearest rank). */
export function percentiles(xs: number[]): { median: number; p95: number } {
  const s = [...xs].sort((a, b) => a - b)
  const rank = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
  return { median: rank(0.5), p95: rank(0.95) }
}

/** `n` consecutive seeds from `from`. */
export const seeds = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i)
