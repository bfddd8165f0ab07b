import type { FastifyPluginAsync } from 'fastify'
import type { SwarmStore } from '../store/swarm-store.js'
import { STATS_PAGE_HTML } from './stats-page.js'
import { statsSnapshot } from './stats-snapshot.js'
import { trackerMetrics } from './tracker-metrics.js'
import type { TrackerStats } from './tracker-stats.js'

export interface StatsRoutesOptions {
  stats: TrackerStats
  store: SwarmStore
  /** Most swarms listed in /stats.json, largest first. @default 100 */
  maxSwarms?: number
}

/** `GET /stats.json`, `GET /stats` (web page), `GET /metrics` (Prometheus). */
export const statsRoutes: FastifyPluginAsync<StatsRoutesOptions> = async (
  app,
  { stats, store, maxSwarms },
) => {
  const registry = trackerMetrics(stats, store)
  app.get('/stats.json', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return statsSnapshot(stats, store, maxSwarms ?? 100)
  })
  app.get('/stats', async (_request, reply) => reply.type('text/html; charset=utf-8').send(STATS_PAGE_HTML))
  app.get('/metrics', async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  )
}
