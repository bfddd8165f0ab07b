import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CLI_PATH } from '../../helpers/cli-process.js'
import type { Lab } from './netns-lab.js'

/** The compiled punch peer (`npm run build` first). */
export const PUNCH_PEER = fileURLToPath(
  new URL('../../../dist/test/natlab/lab/punch-peer.js', import.meta.url),
)

export type Line = Record<string, unknown> & { event: string }

export interface Lines {
  seen: Line[]
  /** Resolves the first line matching `pred`; rejects after `ms` with what was seen. */
  wait(pred: (l: Line) => boolean, ms?: number): Promise<Line>
}

/** Collects a child's output lines (JSON lines parsed, others as `{ event: 'text' }`). */
export function lines(child: ChildProcess): Lines {
  const seen: Line[] = []
  let buf = ''
  let err = ''
  const waiters = new Set<() => void>()
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString()
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const l = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (l.startsWith('{')) seen.push(JSON.parse(l) as Line)
      else seen.push({ event: 'text', text: l })
      for (const w of [...waiters]) w()
    }
  })
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString()
  })
  return {
    seen,
    wait(pred, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = seen.find(pred)
          if (hit) {
            waiters.delete(check)
            clearTimeout(t)
            resolve(hit)
          }
        }
        const t = setTimeout(() => {
          waiters.delete(check)
          reject(
            new Error(
              `no matching line in ${ms} ms; seen ${JSON.stringify(seen)}; stderr ${err.slice(-400)}`,
            ),
          )
        }, ms)
        waiters.add(check)
        check()
      })
    },
  }
}

/** The real `punchswarm tracker` in the lab's tracker namespace, announce interval 5 s; resolves once it listens. */
export async function startLabTracker(l: Lab): Promise<string> {
  const tracker = lines(
    l.spawn(l.trackerNs, [
      process.execPath,
      CLI_PATH,
      'tracker',
      '--host',
      '0.0.0.0',
      '--port',
      '6969',
      '--interval',
      '5',
      '--log-level',
      'warn',
    ]),
  )
  await tracker.wait((x) => x.event === 'text' && String(x.text).startsWith('http://'))
  return `http://${l.trackerIp}:6969/announce`
}

/** The tracker's /stats.json, fetched inside the tracker's namespace. */
export function trackerStats(l: Lab): { punches: { attempt: number; success: number; failure: number } } {
  return JSON.parse(
    l.exec(l.trackerNs, [
      process.execPath,
      '-e',
      "fetch('http://127.0.0.1:6969/stats.json').then((r) => r.text()).then((t) => process.stdout.write(t))",
    ]),
  )
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
): Promise<{ content: Buffer; magnet: string }> {
  mkdirSync(join(dir, 'data'))
  const content = randomBytes(size)
  writeFileSync(join(dir, 'data', 'payload.bin'), content)
  const seed = lines(
    lab.spawn(lab.sites.get(site)!.hostNs, [
      process.execPath,
      CLI_PATH,
      'seed',
      join(dir, 'data', 'payload.bin'),
      '--tracker',
      announce,
      '-p',
      '0',
      '--json',
    ]),
  )
  const magnet = String((await seed.wait((l) => l.event === 'magnet')).uri)
  await new Promise((r) => setTimeout(r, 1500))
  return { content, magnet }
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
  ])
  const out = lines(child)
  const exit = await new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  return { exit, out }
}
