import { type ChildProcess, execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'

/** What the transfer benches share: their scratch directory and children, and the run's context. */

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The lower median; NaN for no values. */
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN
}

// Everything a bench starts is killed by PID on the way out, and its scratch directory goes with it.
const live = new Set<ChildProcess>()
let scratch: string | undefined

function cleanup(): void {
  for (const c of live) {
    try {
      if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL')
    } catch {}
  }
  live.clear()
  if (scratch) rmSync(scratch, { recursive: true, force: true })
  scratch = undefined
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    cleanup()
    process.exit(130)
  })

/** Kills `child` (by PID) if it is still running when the bench ends. */
export function track(child: ChildProcess): void {
  live.add(child)
  child.once('exit', () => live.delete(child))
}

/** A fresh scratch directory, deleted (with every tracked child killed) when the bench ends. */
export function scratchDir(prefix: string): string {
  scratch = mkdtempSync(join(tmpdir(), prefix))
  return scratch
}

/** Kills the tracked children and deletes the scratch directory now. */
export const finish = cleanup

/** The commit of the tree at `root`, and whether its protocol/ or client/ had uncommitted changes. */
export function codeVersion(root: string): string {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', root, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim()
    const dirty = git('status', '--porcelain', '--', 'protocol', 'client') !== ''
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' + uncommitted changes in protocol/ or client/' : ''}`
  } catch {
    return 'unknown (not a git work tree)'
  }
}

/** 1, 5 and 15 minute load averages: how busy the shared machine was around the run. */
export const loadOf = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')

export function libtorrentAvailable(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import libtorrent'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** `mib` MiB of random bytes in `path`; returns their sha256. */
export function writePayload(path: string, mib: number): string {
  const hash = createHash('sha256')
  const fd = openSync(path, 'w')
  try {
    for (let i = 0; i < mib; i++) {
      const chunk = randomBytes(1024 * 1024)
      hash.update(chunk)
      writeSync(fd, chunk)
    }
  } finally {
    closeSync(fd)
  }
  return hash.digest('hex')
}
