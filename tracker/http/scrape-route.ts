import type { FastifyPluginAsync } from 'fastify'
import { TrackerError } from '../../protocol/errors.js'
import { decodeScrapeQuery } from '../../protocol/tracker/announce-query.js'
import { encodeScrape } from '../../protocol/tracker/announce-response.js'
import type { ResolvedTrackerOptions, TrackerDeps } from '../tracker-options.js'
import { admitRequest } from './client-address.js'
import { rawQuery } from './raw-query.js'

/** `GET /scrape` (BEP 48): counts for one or more info hashes. */
export const scrapeRoute: FastifyPluginAsync<{ options: ResolvedTrackerOptions; deps: TrackerDeps }> = async (
  app,
  { options, deps },
) => {
  app.get('/scrape', async (request, reply) => {
    admitRequest(deps, request.ip, options.trustProxy)
    const hashes = decodeScrapeQuery(rawQuery(request.raw.url, options.maxUrlBytes), options.maxScrapeHashes)
    // A full scrape of every swarm is not offered: it would cost as much as the swarm table.
    if (hashes.length === 0)
      throw new TrackerError('TRACKER_BAD_REQUEST', 'scrape needs at least one info_hash')
    const files = hashes.map((infoHash) => ({ infoHash, ...deps.store.scrape(infoHash) }))
    deps.stats.recordScrape()
    reply.header('content-type', 'text/plain; charset=binary')
    return reply.send(Buffer.from(encodeScrape(files)))
  })
}
