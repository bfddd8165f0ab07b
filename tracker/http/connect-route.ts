import type { FastifyPluginAsync } from 'fastify'
import {
  decodeConnectQuery,
  encodeConnectAnswer,
  encodeConnectRefusal,
} from '../../protocol/rendezvous/connect-query.js'
import type { ResolvedTrackerOptions, TrackerDeps } from '../tracker-options.js'
import { announcedIp } from './client-address.js'
import { rawQuery } from './raw-query.js'

/** Bytes of a request as it arrived: request line and headers (a lower bound: no body is read). */
function requestBytes(raw: { method?: string; url?: string; rawHeaders: string[] }): number {
  let n = (raw.method?.length ?? 3) + 1 + (raw.url?.length ?? 0) + ' HTTP/1.1\r\n'.length + 2
  for (let i = 0; i + 1 < raw.rawHeaders.length; i += 2) {
    n += raw.rawHeaders[i]!.length + 2 + raw.rawHeaders[i + 1]!.length + 2
  }
  return n
}

/**
 * `GET /connect` (docs/protocol/connect-request.md, Connect over HTTP): a registered peer asks to be
 * connected to another registered peer of its swarm. The relay checks exactly what it checks for a
 * UDP connect-request, pushes to the target's registered UDP endpoint, and the answer comes back here.
 */
export const connectRoute: FastifyPluginAsync<{
  options: ResolvedTrackerOptions
  deps: TrackerDeps
}> = async (app, { options, deps }) => {
  app.get('/connect', async (request, reply) => {
    const q = decodeConnectQuery(rawQuery(request.raw.url, options.maxUrlBytes))
    reply.header('content-type', 'text/plain; charset=binary')
    if (!deps.rendezvous) {
      return reply.send(
        Buffer.from(encodeConnectRefusal('notRegistered', 'this tracker does not relay connect-requests')),
      )
    }
    const result = deps.rendezvous.connectFromHttp({
      ...q,
      // The token was issued to the announce's source address; the same rule picks it here.
      ip: announcedIp(request.ip, undefined, options.trustProxy),
      receivedBytes: requestBytes(request.raw),
    })
    if (result.type === 'refused') {
      // Debug, not warn: refusals are what a flood of bad connect-requests produces.
      request.log.debug({ code: result.code }, `connect-request refused: ${result.message}`)
      return reply.send(Buffer.from(encodeConnectRefusal(result.code, result.message)))
    }
    return reply.send(Buffer.from(encodeConnectAnswer(result)))
  })
}
