import type { Command } from 'commander'
import { TrackerError } from '../../protocol/errors.js'
import type { StatsSnapshot } from '../../tracker/stats/stats-snapshot.js'
import { renderStatsTable } from '../stats/stats-table.js'
import { statsJsonUrl } from '../stats/stats-url.js'
import { parsePositiveInt } from './parse-port.js'

/** Fetches a tracker's /stats.json, with a timeout and a clear error for anything else. */
export async function fetchStats(input: string, timeoutMs: number): Promise<StatsSnapshot> {
  const url = statsJsonUrl(input)
  let res: Response
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    const why =
      (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'connection failed'
    throw new TrackerError('TRACKER_UNREACHABLE', `cannot reach ${url.origin}: ${why}`, { cause: err })
  }
  if (!res.ok) throw new TrackerError('TRACKER_BAD_RESPONSE', `${url.href} answered HTTP ${res.status}`)
  try {
    const body = (await res.json()) as StatsSnapshot
    if (typeof body?.totals?.peers !== 'number') throw new Error('no totals')
    return body
  } catch (err) {
    throw new TrackerError('TRACKER_BAD_RESPONSE', `${url.href} did not answer with punchswarm stats`, {
      cause: err,
    })
  }
}

/** Registers `punchswarm stats`. */
export function registerStatsCommand(program: Command): void {
  program
    .command('stats')
    .description("print a tracker's swarm statistics as a table")
    .argument('<url>', 'tracker URL (base, announce, stats page or stats.json)')
    .option('--json', 'print the raw JSON')
    .option('--timeout <ms>', 'how long to wait for the tracker', '5000')
    .action(async (input: string, flags: { json?: boolean; timeout: string }) => {
      const stats = await fetchStats(input, parsePositiveInt(flags.timeout, 'timeout'))
      process.stdout.write(flags.json ? `${JSON.stringify(stats, null, 2)}\n` : renderStatsTable(stats))
    })
}
