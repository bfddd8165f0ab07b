import { compactEndpoint } from '../../protocol/rendezvous/connect-query.js'
import { NAT_CLASS_CODES } from '../../protocol/rendezvous/rendezvous-messages.js'
import type { RendezvousService } from './rendezvous-service.js'

/** Most firewalled peers listed in one announce response. */
export const MAX_FIREWALLED_LISTED = 50

/**
 * The `punchswarm` key of an announce response (docs/protocol/connect-request.md, Announce
 * extension): this peer's registration token, the rendezvous ports, and the registered peers of the
 * swarm that cannot be dialled directly. Standard clients ignore the key.
 */
export function buildAnnounceExtension(
  service: RendezvousService,
  req: { infoHash: Uint8Array; peerId: Uint8Array; ip: string; udpPort: number },
): Record<string, unknown> {
  const ext: Record<string, unknown> = {
    token: service.issueToken(req.infoHash, req.peerId, req.ip),
    'udp port': req.udpPort,
  }
  const alt = service.altPort()
  if (alt !== undefined) ext['alt port'] = alt
  const firewalled = []
  for (const p of service.relay.registered(req.infoHash, MAX_FIREWALLED_LISTED + 1)) {
    if (firewalled.length >= MAX_FIREWALLED_LISTED) break
    if (p.natClass === 'public' || Buffer.from(p.peerId).equals(Buffer.from(req.peerId))) continue
    firewalled.push({
      'peer id': p.peerId,
      endpoint: compactEndpoint(p.endpoint.address, p.endpoint.port),
      nat: NAT_CLASS_CODES[p.natClass],
    })
  }
  ext.firewalled = firewalled
  return ext
}
