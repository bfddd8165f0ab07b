import Fastify, { LogController } from 'fastify'
import { PunchswarmError } from '../protocol/errors.js'
import { encodeFailure } from '../protocol/tracker/announce-response.js'
import { announceRoute } from './http/announce-route.js'
import { connectRoute } from './http/connect-route.js'
import { scrapeRoute } from './http/scrape-route.js'
import { RequestLimiter } from './request-limiter.js'
import { statsRoutes } from './stats/stats-routes.js'
import { resolveTrackerOptions, type TrackerDeps, type TrackerOptions } from './tracker-options.js'

/** Largest request body accepted: a tracker takes GET requests only. */
const BODY_LIMIT_BYTES = 1024

/**
 * Builds the tracker's HTTP app without listening (tests call `app.inject()`; tracker-server.ts
 * listens). Client errors are answered with HTTP 200 and a bencoded `failure reason`, as BitTorrent
 * clients expect, and logged as warnings: an error for the client, just a warning for the server.
 */
export function buildTracker(options: TrackerOptions, givenDeps: TrackerDeps) {
  const resolved = resolveTrackerOptions(options)
  const deps: TrackerDeps = {
    ...givenDeps,
    requestLimiter:
      givenDeps.requestLimiter ?? new RequestLimiter(resolved.maxRequestsPerSecond, resolved.requestBurst),
  }
  const app = Fastify({
    loggerInstance: deps.logger,
    // Per-request log lines would cost more than an announce; failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: resolved.trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    // The routes read the raw URL themselves: info_hash and peer_id are bytes, not UTF-8.
    routerOptions: { querystringParser: () => ({}), maxParamLength: 200 },
    return503OnClosing: true,
  })

  app.setErrorHandler((err, request, reply) => {
    const known = err instanceof PunchswarmError
    const reason = known ? err.message : 'bad request'
    // A flood of over-limit requests must not become a flood of log lines.
    const level = known && err.code === 'TRACKER_RATE_LIMITED' ? 'debug' : 'warn'
    request.log[level](
      { code: known ? err.code : (err as { code?: string }).code, url: request.url.slice(0, 200) },
      reason,
    )
    reply
      .code(200)
      .header('content-type', 'text/plain; charset=binary')
      .send(Buffer.from(encodeFailure(reason)))
  })
  app.setNotFoundHandler((_request, reply) => {
    reply
      .code(404)
      .header('content-type', 'text/plain; charset=binary')
      .send(Buffer.from(encodeFailure('unknown path')))
  })

  app.get('/', async (_request, reply) => reply.redirect('/stats'))
  app.register(announceRoute, { options: resolved, deps })
  app.register(scrapeRoute, { options: resolved, deps })
  app.register(connectRoute, { options: resolved, deps })
  app.register(statsRoutes, { stats: deps.stats, store: deps.store })
  return app
}

/** The tracker's fastify app. */
export type TrackerApp = ReturnType<typeof buildTracker>
