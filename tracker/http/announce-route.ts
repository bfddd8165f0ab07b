import type { FastifyPluginAsync } from 'fastify'
import { ipFamily } from '../../protocol/ip-address.js'
import { announceKey } from '../../protocol/tracker/announce-key.js'
import { decodeAnnounceQuery } from '../../protocol/tracker/announce-query.js'
import { encodeCompactAnnounce, encodeDictAnnounce } from '../../protocol/tracker/announce-response.js'
import { buildAnnounceExtension } from '../rendezvous/announce-extension.js'
import type { ResolvedTrackerOptions, TrackerDeps } from '../tracker-options.js'
import { admitRequest, announcedIp } from './client-address.js'
import { rawQuery } from './raw-query.js'

export interface AnnounceRouteOptions {
  options: ResolvedTrackerOptions
  deps: TrackerDeps
}

/** `GET /announce` (BEP 3, BEP 23 compact peers, BEP 7 peers6). */
export const announceRoute: FastifyPluginAsync<AnnounceRouteOptions> = async (app, { options, deps }) => {
  app.get('/announce', async (request, reply) => {
    const a = decodeAnnounceQuery(rawQuery(request.raw.url, options.maxUrlBytes))
    const ip = announcedIp(request.ip, a.ip, options.trustProxy)
    admitRequest(deps, request.ip, options.trustProxy)
    const numwant = Math.min(a.numwant ?? options.defaultNumwant, options.maxNumwant)
    const wantIds = !a.compact && !a.noPeerId
    const res = deps.store.announce(
      {
        infoHash: a.infoHash,
        peerId: a.peerId,
        ip,
        family: ipFamily(ip),
        port: a.port,
        left: a.left,
        event: a.event,
        numwant: a.event === 'stopped' ? 0 : numwant,
        now: deps.clock.now(),
        key: announceKey(a.key),
      },
      { wantPeerIds: wantIds },
    )
    const udpPort = typeof options.udpPort === 'function' ? options.udpPort() : options.udpPort
    const extra =
      // Only clients that speak the rendezvous protocol ask for it; others skip its cost.
      deps.rendezvous && a.rendezvous && udpPort !== undefined && a.event !== 'stopped'
        ? {
            punchswarm: buildAnnounceExtension(deps.rendezvous, {
              infoHash: a.infoHash,
              peerId: a.peerId,
              ip,
              udpPort,
            }),
          }
        : undefined
    const answer = {
      interval: options.intervalSeconds,
      minInterval: options.minIntervalSeconds,
      complete: res.complete,
      incomplete: res.incomplete,
      compact4: res.peers.compact4,
      compact6: res.peers.compact6,
      peerIds: res.peers.peerIds,
      trackerId: a.trackerId,
      warning: options.warning,
      extra,
    }
    deps.stats.recordAnnounce()
    reply.header('content-type', 'text/plain; charset=binary')
    return reply.send(
      Buffer.from(a.compact ? encodeCompactAnnounce(answer) : encodeDictAnnounce(answer, wantIds)),
    )
  })
}
