import { readFileSync } from 'node:fs'
import type { Cpu } from './messages.js'

/** Linux clock ticks per second (USER_HZ); 100 on every mainstream kernel build. */
const CLOCK_TICKS = 100

/** UDP counters of the whole host from /proc/net/snmp (other processes' datagrams count too). */
export interface UdpCounters {
  rcvbufErrors: number
  sndbufErrors: number
  inErrors: number
}

export function udpCounters(): UdpCounters {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp: '))
  const names = lines[0]?.split(/\s+/) ?? []
  const values = lines[1]?.split(/\s+/).map(Number) ?? []
  const get = (name: string) => values[names.indexOf(name)] ?? 0
  return { rcvbufErrors: get('RcvbufErrors'), sndbufErrors: get('SndbufErrors'), inErrors: get('InErrors') }
}

export function udpDelta(before: UdpCounters, after: UdpCounters): UdpCounters {
  return {
    rcvbufErrors: after.rcvbufErrors - before.rcvbufErrors,
    sndbufErrors: after.sndbufErrors - before.sndbufErrors,
    inErrors: after.inErrors - before.inErrors,
  }
}

/** CPU seconds (utime and stime, all threads) a live process has used, from /proc/<pid>/stat. */
export function cpuOf(pid: number, thread?: number): Cpu {
  const stat = readFileSync(
    thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`,
    'utf8',
  )
  // Fields after the command name, which sits in parentheses and may itself contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of the line: indexes 11 and 12 from field 3 (state) on.
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS }
}
