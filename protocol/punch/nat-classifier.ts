import { addressKey, type UdpAddress } from '../datagram-socket.js'
import type { WireNatClass } from '../rendezvous/rendezvous-messages.js'

/** What a peer saw from its binding-requests (docs/protocol/connect-request.md, NAT classification). */
export interface BindingObservations {
  /** The socket's own bound address (with a concrete IP, not 0.0.0.0). */
  local: UdpAddress
  /** Step 1: the answer to a change-port request to the main port arrived from the alternate port. */
  changePortAnswered: boolean
  /** Step 2: endpoint the main port observed; undefined if never answered. */
  viaMain?: UdpAddress
  /** Step 2: endpoint the alternate port observed; undefined if never answered. */
  viaAlt?: UdpAddress
}

/**
 * Classifies the NAT in front of a socket from its binding observations:
 * - no answer at all: blocked (no UDP);
 * - observed == local: public if unsolicited packets arrive, else firewalled (filtering without NAT);
 * - otherwise NAT: cone if both ports saw the same mapping (endpoint-independent mapping), symmetric
 *   if not. A NAT that also lets unsolicited packets in (endpoint-independent filtering) is as good as
 *   public for dialling, and is reported as public.
 */
export function classifyNat(o: BindingObservations): WireNatClass {
  if (!o.viaMain && !o.viaAlt) return 'blocked'
  const seen = o.viaMain ?? o.viaAlt!
  const behindNat = addressKey(seen) !== addressKey(o.local)
  if (!behindNat) return o.changePortAnswered ? 'public' : 'firewalled'
  if (o.viaMain && o.viaAlt && addressKey(o.viaMain) !== addressKey(o.viaAlt)) return 'symmetric'
  return o.changePortAnswered ? 'public' : 'cone'
}
