import {
  bencodeTarget,
  bep15RequestTarget,
  bep15ResponseTarget,
  peerFramingTarget,
  rendezvousTarget,
  utpPacketTarget,
} from './codec-targets.js'
import type { FuzzTarget } from './fuzz-target.js'
import { magnetTarget, torrentTarget, utMetadataTarget } from './metainfo-targets.js'
import {
  announceQueryTarget,
  announceResponseTarget,
  scrapeQueryTarget,
  trackerHttpTarget,
} from './tracker-targets.js'
import { peerWireTarget } from './wire-targets.js'

/**
 * Every decoder that reads bytes from the network (or from users: torrents, magnet links), shared by
 * the quick CI pass (test/fuzz/) and the long run (bench/fuzz/run.ts). See docs/fuzzing.md.
 */
export const FUZZ_TARGETS: readonly FuzzTarget<never>[] = [
  bencodeTarget,
  announceResponseTarget,
  bep15RequestTarget,
  bep15ResponseTarget,
  announceQueryTarget,
  scrapeQueryTarget,
  trackerHttpTarget,
  rendezvousTarget,
  utpPacketTarget,
  peerFramingTarget,
  peerWireTarget,
  torrentTarget,
  utMetadataTarget,
  magnetTarget,
] as FuzzTarget<never>[]

/** The seed a run uses: PUNCHSWARM_FUZZ_SEED when set (to replay a failure), else a fresh one. */
export function fuzzSeed(env: string | undefined = process.env.PUNCHSWARM_FUZZ_SEED): number {
  if (env !== undefined && env !== '') {
    const n = Number(env)
    if (!Number.isSafeInteger(n)) throw new Error(`PUNCHSWARM_FUZZ_SEED must be an integer, got "${env}"`)
    return n | 0
  }
  return (Math.random() * 2 ** 31) | 0
}
