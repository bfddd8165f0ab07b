import type { UdpAddress } from '../datagram-socket.js'
import type { WireNatClass } from '../rendezvous/rendezvous-messages.js'

/** What both sides learned from the tracker's connect-ack / connect-push. */
export interface PunchPlan {
  /** Names this punch; both sides got it from the tracker. */
  nonce: Uint8Array
  selfPeerId: Uint8Array
  peerPeerId: Uint8Array
  selfNat: WireNatClass
  peerNat: WireNatClass
  /** The peer's public (server-reflexive) endpoint as the tracker saw it. */
  peerEndpoint: UdpAddress
  /** The peer's own socket address, tried first when both share a public address. */
  peerLan?: UdpAddress
  /** Both peers are behind the same public address (their router may not hairpin). */
  samePublicAddress: boolean
  /** Wait this long before the first probe (the tracker's synchronisation). */
  punchDelayMs: number
}

export interface PunchOptions {
  /** Between probe rounds. @default 50 */
  probeIntervalMs?: number
  /** Give up after this long. @default 10_000 */
  timeoutMs?: number
  /** TTL of the first probes from behind a NAT: opens our own mapping, dies before the far NAT. @default 2 */
  lowTtl?: number
  /**
   * How many rounds use the low TTL. One is enough: the far side's first full-TTL probe reaches our
   * NAT a round plus a one-way delay later, long after ours opened it; each extra round costs a
   * whole probe interval on every punch. @default 1
   */
  lowTtlRounds?: number
  /** After the low-TTL rounds, the first full-TTL round follows this soon: our own router has long
   * forwarded the low-TTL probe by then. @default 1 */
  lowTtlGapMs?: number
  /** Extra sockets a symmetric side opens for birthday probing. @default 128 */
  birthdaySockets?: number
  /**
   * Random ports a cone side probes per round when the peer is symmetric. With 128 sockets on the far
   * side, 24 per 50 ms round finds a pair with probability 1 - exp(-128 * 480 t / 64512): 94 % within
   * 3 s, 99 % within 5 s. @default 24
   */
  birthdayProbesPerRound?: number
  /** Most random ports a cone side probes in all. @default 4096 */
  birthdayMaxProbes?: number
  /** A symmetric side refreshes its extra sockets' mappings every this many rounds. @default 20 */
  birthdayRefreshRounds?: number
}

export const PUNCH_DEFAULTS: Required<PunchOptions> = {
  probeIntervalMs: 50,
  timeoutMs: 10_000,
  lowTtl: 2,
  lowTtlRounds: 1,
  lowTtlGapMs: 1,
  birthdaySockets: 128,
  birthdayProbesPerRound: 24,
  birthdayMaxProbes: 4096,
  birthdayRefreshRounds: 20,
}

/** How a pair of classes is punched (docs/protocol/connect-request.md, Strategies). */
export type PunchStrategy =
  | 'direct'
  | 'simultaneous'
  | 'lan-first'
  | 'birthday-sockets'
  | 'birthday-ports'
  | 'needs-relay'

/**
 * Chooses the strategy for this side from both classes. `sameLan`: both are behind one public
 * address and the peer's LAN endpoint is known (a NAT need not hairpin, so the LAN is the way).
 */
export function choosePunchStrategy(self: WireNatClass, peer: WireNatClass, sameLan = false): PunchStrategy {
  if (self === 'blocked' || peer === 'blocked') return 'needs-relay'
  if (sameLan) return 'lan-first'
  if (self === 'symmetric' && peer === 'symmetric') return 'needs-relay'
  if (peer === 'public') return 'direct'
  // A symmetric side cannot predict its mapping; it sprays from many sockets while the cone side
  // sprays to many ports, until one pair meets (the birthday paradox).
  if (self === 'symmetric') return 'birthday-sockets'
  if (peer === 'symmetric') return self === 'public' ? 'direct' : 'birthday-ports'
  return 'simultaneous'
}
