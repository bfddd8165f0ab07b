import type { StatsSnapshot } from '../../tracker/stats/stats-snapshot.js'

const num = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1))

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows
    .map((r) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
    )
    .join('\n')
}

/** The stats as terminal tables: totals, rates, NAT classes, punches, top swarms. */
export function renderStatsTable(s: StatsSnapshot, maxSwarms = 20): string {
  const t = s.totals
  const summary = table([
    [
      'swarms',
      'peers',
      'seeders',
      'leechers',
      'completed',
      'ipv4',
      'ipv6',
      'announce/s',
      'scrape/s',
      'uptime',
    ],
    [
      t.swarms,
      t.peers,
      t.seeders,
      t.leechers,
      t.downloaded,
      t.peers4,
      t.peers6,
      s.rates.announcesPerSecond,
      s.rates.scrapesPerSecond,
      `${Math.round(s.uptimeSeconds)}s`,
    ].map((v) => (typeof v === 'number' ? num(v) : v)),
  ])
  const nat = table([Object.keys(t.byNatClass), Object.values(t.byNatClass).map(num)])
  const punches = table([
    ['punch attempts', 'successes', 'failures'],
    [s.punches.attempt, s.punches.success, s.punches.failure].map(num),
  ])
  const swarms =
    s.swarms.length === 0
      ? 'no swarms'
      : table([
          ['info hash', 'seeders', 'leechers', 'completed', 'ipv4', 'ipv6'],
          ...s.swarms
            .slice(0, maxSwarms)
            .map((w) => [w.infoHash, ...[w.seeders, w.leechers, w.completed, w.peers4, w.peers6].map(num)]),
        ])
  return `${summary}\n\nPeers by NAT class\n${nat}\n\n${punches}\n\n${swarms}\n`
}
