import { createSocket } from 'node:dgram'

/**
 * The local address this host uses to reach `remote`: the address a peer behind the same router
 * reaches us at. A connected UDP socket asks the kernel's routing table and sends nothing.
 * Undefined when there is no route.
 */
export async function localAddressToward(remote: string): Promise<string | undefined> {
  const socket = createSocket(remote.includes(':') ? 'udp6' : 'udp4')
  try {
    return await new Promise<string | undefined>((resolve) => {
      socket.once('error', () => resolve(undefined))
      socket.connect(9, remote, () => resolve(socket.address().address))
    })
  } finally {
    socket.close()
  }
}
