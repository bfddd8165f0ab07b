import { createSocket } from 'node:dgram'
import type { UdpAddress } from '../../protocol/datagram-socket.js'

/** True for 0.0.0.0 and ::, the addresses of a socket bound to every interface. */
export function isWildcardAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '::0'
}

/**
 * The local IP the kernel would send from toward `to`: a socket bound to the wildcard address has no
 * address of its own, but NAT classification must compare what the tracker saw with a real one. A
 * connected UDP socket picks its source by routing without sending anything.
 */
export async function routeSourceAddress(to: UdpAddress): Promise<string | undefined> {
  const probe = createSocket(to.address.includes(':') ? 'udp6' : 'udp4')
  try {
    return await new Promise<string | undefined>((resolve) => {
      // No route (or no such family) is not an error here: the caller keeps the bound address.
      probe.once('error', () => resolve(undefined))
      probe.connect(to.port, to.address, () => {
        try {
          resolve(probe.address().address)
        } catch {
          resolve(undefined)
        }
      })
    })
  } finally {
    probe.close()
  }
}
