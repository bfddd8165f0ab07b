import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { CLI_PATH } from '../../helpers/cli-process.js'
import { lines } from './child-lines.js'
import type { Lab } from './netns-lab.js'

/** The built CLI, whether this file runs from the sources (tests) or from dist/ (benches). */
const CLI = import.meta.url.includes('/dist/test/')
  ? fileURLToPath(new URL('../../../client/cli/main.js', import.meta.url))
  : CLI_PATH

/** The lab tracker's HTTP port (its UDP port has the same number). */
export const LAB_TRACKER_PORT = 6969

/**
 * The real `punchswarm tracker` in the lab's tracker namespace, announce interval 5 s; resolves with
 * its announce URL and its process (fault tests kill it) once it listens.
 */
export async function startLabTrackerProcess(l: Lab): Promise<{ url: string; child: ChildProcess }> {
  const child = l.spawn(l.trackerNs, [
    process.execPath,
    CLI,
    'tracker',
    '--host',
    '0.0.0.0',
    '--port',
    String(LAB_TRACKER_PORT),
    '--interval',
    '5',
    '--log-level',
    'warn',
  ])
  await lines(child).wait((x) => x.event === 'text' && String(x.text).startsWith('http://'))
  return { url: `http://${l.trackerIp}:${LAB_TRACKER_PORT}/announce`, child }
}

/** The lab tracker (see `startLabTrackerProcess`); resolves with its announce URL. */
export async function startLabTracker(l: Lab): Promise<string> {
  return (await startLabTrackerProcess(l)).url
}
