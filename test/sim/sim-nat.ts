import type { Random } from '../../protocol/clock.js'
import { type AddressFamily, addressKey, type UdpAddress } from '../../protocol/datagram-socket.js'
import type { VirtualClock } from './virtual-clock.js'

/** RFC 4787 behaviours, used both for mapping and for filtering. */
export type NatBehaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent'

export interface NatOptions {
  mapping: NatBehaviour
  filtering: NatBehaviour
  /** Idle time after which a mapping is forgotten; only outbound traffic refreshes it. @default 30_000 */
  mappingTimeoutMs?: number
  /** 'preserve' keeps the private port when free and otherwise falls back to sequential. @default 'preserve' */
  portAllocation?: 'preserve' | 'sequential' | 'random'
  /** Whether a host may reach a neighbour through the NAT's own public address. @default false */
  hairpin?: boolean
  /**
   * 'none' makes a stateful firewall: sources keep their address and port, and only the filtering
   * applies (mapping is then endpoint-independent). Its one host sits at the firewall's own address:
   * `net.host(publicIp, { behind })`. @default 'napt'
   */
  translation?: 'napt' | 'none'
  /** Drops every UDP datagram either way (networks that allow only TCP). @default false */
  blocksUdp?: boolean
}

export const NAT_PRESETS = {
  fullCone: { mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
  restrictedCone: { mapping: 'endpoint-independent', filtering: 'address-dependent' },
  portRestrictedCone: { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  symmetric: {
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    portAllocation: 'random',
  },
  statefulFirewall: {
    mapping: 'endpoint-independent',
    filtering: 'address-and-port-dependent',
    translation: 'none',
  },
  udpBlocked: { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', blocksUdp: true },
} as const satisfies Record<string, NatOptions>

export const DEFAULT_MAPPING_TIMEOUT_MS = 30_000
const SEQUENTIAL_PORT_START = 10_000

export interface NatMappingInfo {
  privateAddress: UdpAddress
  publicAddress: UdpAddress
  /** Endpoints (`ip:port`) this mapping has sent to: what the filter lets back in. */
  contacted: string[]
  expiresAt: number
}

export interface NatStats {
  mappingsCreated: number
  translatedOutbound: number
  forwardedInbound: number
  /** Inbound datagrams dropped for lack of a live mapping or by the filter. */
  droppedInbound: number
}

interface Mapping {
  key: string
  privateIp: string
  privatePort: number
  publicPort: number
  lastOutbound: number
  ips: Set<string>
  endpoints: Set<string>
}

/** @internal An ip and port as the network routes them. */
export interface Endpoint {
  ip: string
  port: number
}

export const endpointKey = (e: Endpoint) => addressKey({ address: e.ip, port: e.port })
export const familyOf = (ip: string): AddressFamily => (ip.includes(':') ? 'IPv6' : 'IPv4')
export const toUdp = (e: Endpoint): UdpAddress => ({ address: e.ip, port: e.port, family: familyOf(e.ip) })

/**
 * A home router (or, with translation 'none', a stateful firewall): translates outbound sources and
 * forwards inbound only through live, permitted mappings. A datagram it drops leaves no state behind,
 * like a Linux router whose INPUT chain drops unsolicited packets (so an early punch probe cannot
 * make it move a mapping).
 */
export class SimNat {
  readonly options: Required<NatOptions>
  private readonly byKey = new Map<string, Mapping>()
  private readonly byPort = new Map<number, Mapping>()
  private nextPort = SEQUENTIAL_PORT_START
  private readonly counters: NatStats = {
    mappingsCreated: 0,
    translatedOutbound: 0,
    forwardedInbound: 0,
    droppedInbound: 0,
  }

  /** Created by `MemoryNetwork.nat`. */
  constructor(
    readonly publicIp: string,
    options: NatOptions,
    private readonly clock: VirtualClock,
    private readonly random: Random,
  ) {
    this.options = {
      mappingTimeoutMs: DEFAULT_MAPPING_TIMEOUT_MS,
      portAllocation: 'preserve',
      hairpin: false,
      translation: 'napt',
      blocksUdp: false,
      ...options,
    }
  }

  /** Live mappings, for inspection. */
  mappings(): NatMappingInfo[] {
    const out: NatMappingInfo[] = []
    for (const m of this.byPort.values()) {
      if (this.expired(m)) continue
      out.push({
        privateAddress: toUdp({ ip: m.privateIp, port: m.privatePort }),
        publicAddress: toUdp({ ip: this.publicIp, port: m.publicPort }),
        contacted: [...m.endpoints],
        expiresAt: m.lastOutbound + this.options.mappingTimeoutMs,
      })
    }
    return out
  }

  /** Router reboot: every mapping is forgotten. */
  flush(): void {
    this.byKey.clear()
    this.byPort.clear()
  }

  stats(): NatStats {
    return { ...this.counters }
  }

  /** @internal Rewrites an outbound source, creating or refreshing its mapping; null if dropped. */
  translateOut(src: Endpoint, dst: Endpoint): Endpoint | null {
    if (this.options.blocksUdp) return null
    const key = this.mappingKey(src, dst)
    let m = this.byKey.get(key)
    if (m !== undefined && this.expired(m)) {
      this.remove(m)
      m = undefined
    }
    if (m === undefined) {
      m = {
        key,
        privateIp: src.ip,
        privatePort: src.port,
        publicPort: this.options.translation === 'none' ? src.port : this.allocatePort(src.port),
        lastOutbound: 0,
        ips: new Set(),
        endpoints: new Set(),
      }
      this.byKey.set(key, m)
      this.byPort.set(m.publicPort, m)
      this.counters.mappingsCreated++
    }
    m.lastOutbound = this.clock.now()
    m.ips.add(dst.ip)
    m.endpoints.add(endpointKey(dst))
    this.counters.translatedOutbound++
    return { ip: this.publicIp, port: m.publicPort }
  }

  /** @internal The private endpoint an inbound datagram goes to, or null if the NAT drops it. */
  translateIn(src: Endpoint, publicPort: number): Endpoint | null {
    const m = this.byPort.get(publicPort)
    if (this.options.blocksUdp || m === undefined || this.expired(m) || !this.admits(m, src)) {
      this.counters.droppedInbound++
      return null
    }
    this.counters.forwardedInbound++
    return { ip: m.privateIp, port: m.privatePort }
  }

  private admits(m: Mapping, src: Endpoint): boolean {
    switch (this.options.filtering) {
      case 'endpoint-independent':
        return true
      case 'address-dependent':
        return m.ips.has(src.ip)
      case 'address-and-port-dependent':
        return m.endpoints.has(endpointKey(src))
    }
  }

  private mappingKey(src: Endpoint, dst: Endpoint): string {
    const own = endpointKey(src)
    if (this.options.translation === 'none') return own
    switch (this.options.mapping) {
      case 'endpoint-independent':
        return own
      case 'address-dependent':
        return `${own}>${dst.ip}`
      case 'address-and-port-dependent':
        return `${own}>${endpointKey(dst)}`
    }
  }

  private expired(m: Mapping): boolean {
    return this.clock.now() - m.lastOutbound >= this.options.mappingTimeoutMs
  }

  private remove(m: Mapping): void {
    this.byKey.delete(m.key)
    if (this.byPort.get(m.publicPort) === m) this.byPort.delete(m.publicPort)
  }

  private portFree(port: number): boolean {
    const m = this.byPort.get(port)
    if (m === undefined) return true
    if (!this.expired(m)) return false
    this.remove(m)
    return true
  }

  private allocatePort(privatePort: number): number {
    const how = this.options.portAllocation
    if (how === 'preserve' && this.portFree(privatePort)) return privatePort
    if (how === 'random') {
      for (let i = 0; i < 1000; i++) {
        const port = 1024 + this.random.int(65536 - 1024)
        if (this.portFree(port)) return port
      }
    }
    for (let i = 0; i < 65536 - 1024; i++) {
      const port = this.nextPort
      this.nextPort = port >= 65535 ? 1024 : port + 1
      if (this.portFree(port)) return port
    }
    throw new Error(`NAT ${this.publicIp} is out of ports`)
  }
}
