import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import { NAT_CLASSES, type SwarmStore } from '../store/swarm-store.js'
import type { TrackerStats } from './tracker-stats.js'

/**
 * Prometheus metrics in a registry of this tracker's own (not prom-client's global one), so several
 * trackers in one process do not clash. Values are read from the stats and the store at scrape time.
 */
export function trackerMetrics(stats: TrackerStats, store: SwarmStore): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'punchswarm_process_' })
  const totals = () => store.totals()
  new Counter({
    name: 'punchswarm_announces_total',
    help: 'Announces answered (HTTP and UDP)',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(stats.announces)
    },
  })
  new Counter({
    name: 'punchswarm_scrapes_total',
    help: 'Scrapes answered (HTTP and UDP)',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(stats.scrapes)
    },
  })
  new Counter({
    name: 'punchswarm_punches_total',
    help: 'Connect-requests relayed (attempt) and punch outcomes reported by peers',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [outcome, n] of Object.entries(stats.punches)) this.inc({ outcome }, n)
    },
  })
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read())
      },
    })
  gauge('punchswarm_swarms', 'Swarms with at least one peer', () => totals().swarms)
  gauge('punchswarm_peers', 'Peers in all swarms', () => totals().peers)
  gauge('punchswarm_seeders', 'Seeders in all swarms', () => totals().seeders)
  gauge('punchswarm_leechers', 'Leechers in all swarms', () => totals().leechers)
  new Gauge({
    name: 'punchswarm_peers_by_family',
    help: 'Peers by IP family',
    labelNames: ['family'],
    registers: [registry],
    collect() {
      const t = totals()
      this.set({ family: 'ipv4' }, t.peers4)
      this.set({ family: 'ipv6' }, t.peers6)
    },
  })
  new Gauge({
    name: 'punchswarm_peers_by_nat_class',
    help: 'Peers by NAT class learned from rendezvous registrations',
    labelNames: ['nat_class'],
    registers: [registry],
    collect() {
      const t = totals()
      for (const c of NAT_CLASSES) this.set({ nat_class: c }, t.byNatClass[c])
    },
  })
  gauge(
    'punchswarm_announces_per_second',
    'Announces per second over the last minute',
    () => stats.rates().announcesPerSecond,
  )
  return registry
}
