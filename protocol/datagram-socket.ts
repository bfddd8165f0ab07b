/**
 * The UDP seam. One socket per client carries tracker keepalives, punch probes and every uTP
 * connection: a NAT mapping belongs to exactly one socket, so everything that must travel through a
 * punched hole shares it. Real sockets (client/udp-socket.ts) and the in-memory network
 * (test/sim/memory-network.ts) implement the same interface.
 */

export type AddressFamily = 'IPv4' | 'IPv6'

export interface UdpAddress {
  address: string
  port: number
  family?: AddressFamily
}

export interface DatagramSocketEvents {
  message: [bytes: Uint8Array, from: UdpAddress]
  error: [err: Error]
  close: []
}

export interface DatagramSocket {
  /** Sends one datagram. Never throws for a network-level failure; reports through `error`. */
  send(bytes: Uint8Array, to: UdpAddress): void
  /** The locally bound address. */
  address(): UdpAddress
  on<E extends keyof DatagramSocketEvents>(
    event: E,
    listener: (...args: DatagramSocketEvents[E]) => void,
  ): this
  off<E extends keyof DatagramSocketEvents>(
    event: E,
    listener: (...args: DatagramSocketEvents[E]) => void,
  ): this
  /** Sets the IP TTL of following datagrams (low-TTL punch probes open only the local NAT). */
  setTTL?(ttl: number): void
  close(): void
}

/** `ip:port` key for maps; IPv6 addresses are bracketed. */
export function addressKey(a: UdpAddress): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
}
