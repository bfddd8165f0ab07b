import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/**
 * Suites that need something outside Node (root, Chromium, python3-libtorrent) skip with a printed
 * reason when it is missing, except in CI (PUNCHSWARM_REQUIRE_ROOT_TESTS=1), where a missing
 * prerequisite fails the suite instead of hiding it.
 */
export function prerequisite(what: string, available: boolean): { skip: boolean } {
  if (available) return { skip: false }
  if (process.env.PUNCHSWARM_REQUIRE_ROOT_TESTS === '1') {
    throw new Error(`${what} is required in CI (PUNCHSWARM_REQUIRE_ROOT_TESTS=1) but is missing`)
  }
  console.warn(`skipping: ${what} is missing`)
  return { skip: true }
}

export const CHROMIUM_PATH = '/usr/bin/chromium'

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH)
}

/** Debian's python3-libtorrent installs for /usr/bin/python3 only. */
export function libtorrentAvailable(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import libtorrent'], { stdio: 'ignore', timeout: 10_000 })
    return true
  } catch {
    return false
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0
}
