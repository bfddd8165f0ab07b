import type { FastifyPluginAsync } from 'fastify'
import type { SwarmStore } from '../store/swarm-store.js'
import type { TrackerStats } from './tracker-stats.js'

export interface StatsRoutesOptions {
  stats: TrackerStats
  store: SwarmStore
}

/** `GET /stats.json`, `GET /stats`, `GET /metrics`. */
export const statsRoutes: FastifyPluginAsync<StatsRoutesOptions> = async () => {}
