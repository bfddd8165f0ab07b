import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CLI_PATH } from '../../helpers/cli-process.js'
import { type Line, type ChildLines as Lines, lines } from './child-lines.js'
import { labCli, labStats } from './lab-cli.js'
import type { Lab } from './netns-lab.js'

/** The compiled punch peer (`npm run build` first). */
export const PUNCH_PEER = fileURLToPath(
  new URL('../../../dist/test/natlab/lab/punch-peer.js', import.meta.url),
)

export { startLabTracker } from './lab-tracker.js'
export type { Lines }
export { type Line, lines }

/** The tracker's /stats.json, fetched inside the tracker's namespace. */
export function trackerStats(l: Lab): { punches: { attempt: number; success: number; failure: number } } {
  return labStats(l)
}

export interface PairRun {
  target: Lines
  requester: Lines
  /** The target's `registered` (or `error`) line. */
  registered: Line
  /** The requester's `done` or `error` line. */
  done: Line
}

/**
 * One punch between two sites of a running lab: a target peer at `targetSite` registers, then a
 * requester at `requesterSite` asks the tracker for it, punches and reads `bytes` over uTP. Both
 * processes are killed (by PID) before this resolves.
 */
export async function runPair(
  lab: Lab,
  announce: string,
  requesterSite: string,
  targetSite: string,
  bytes: number,
): Promise<PairRun> {
  const infoHash = randomBytes(20).toString('hex')
  const targetId = randomBytes(20).toString('hex')
  const base = { tracker: announce, infoHash, bytes }
  const peer = (site: string, options: Record<string, unknown>) =>
    lab.spawn(lab.sites.get(site)!.hostNs, [
      process.execPath,
      PUNCH_PEER,
      JSON.stringify({ ...base, ...options }),
    ])
  const targetChild = peer(targetSite, { role: 'target', peerId: targetId })
  let requesterChild: ChildProcess | undefined
  try {
    const target = lines(targetChild)
    const registered = await target.wait((l) => l.event === 'registered' || l.event === 'error', 40_000)
    requesterChild = peer(requesterSite, {
      role: 'requester',
      peerId: randomBytes(20).toString('hex'),
      targetPeerId: targetId,
    })
    const requester = lines(requesterChild)
    const done = await requester.wait((l) => l.event === 'done' || l.event === 'error', 60_000)
    // The target's own view of the punch (it settles a moment after the requester).
    await target.wait((l) => l.event === 'punched' || l.event === 'punchFailed', 1_000).catch(() => undefined)
    return { target, requester, registered, done }
  } finally {
    targetChild.kill('SIGKILL')
    requesterChild?.kill('SIGKILL')
  }
}

/**
 * Writes `size` random bytes to `dir`/data/payload.bin and runs `punchswarm seed` on it at a site.
 * Resolves with the content and the magnet link once the seeder has had time to announce, classify
 * its NAT and register with the tracker.
 */
export async function seedRandomFile(
  lab: Lab,
  site: string,
  dir: string,
  announce: string,
  size: number,
  seedArgs: string[] = [],
): Promise<{ content: Buffer; magnet: string; seed: ReturnType<typeof labCli> }> {
  mkdirSync(join(dir, 'data'))
  const content = randomBytes(size)
  writeFileSync(join(dir, 'data', 'payload.bin'), content)
  const seed = labCli(lab, lab.sites.get(site)!.hostNs, [
    'seed',
    join(dir, 'data', 'payload.bin'),
    '--tracker',
    announce,
    '-p',
    '0',
    '--json',
    '--no-dht',
    '--no-lsd',
    ...seedArgs,
  ])
  const magnet = String((await seed.out.wait((l) => l.event === 'magnet')).uri)
  await new Promise((r) => setTimeout(r, 1500))
  return { content, magnet, seed }
}

/** `punchswarm get <magnet> -o <dir>` at a site; resolves with its exit code and output lines. */
export async function runGet(
  lab: Lab,
  site: string,
  magnet: string,
  dir: string,
  timeoutSeconds: number,
): Promise<{ exit: number | null; out: Lines }> {
  const child = lab.spawn(lab.sites.get(site)!.hostNs, [
    process.execPath,
    CLI_PATH,
    'get',
    magnet,
    '-o',
    dir,
    '--timeout',
    String(timeoutSeconds),
    '--json',
    '--no-dht',
    '--no-lsd',
  ])
  const out = lines(child)
  const exit = await new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  return { exit, out }
}
