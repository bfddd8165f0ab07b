import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { type RouterBehaviour, routerRules, uplinkQdisc } from './lab-router.js'

/**
 * How a site reaches the internet: a public host (no router), behind a cone or symmetric NAT, or a
 * public address behind a stateful firewall that does no NAT.
 */
export type SiteKind = 'public' | RouterBehaviour['kind']

/** A site with its own router (or none, for 'public'), and how that router impairs traffic. */
export type RoutedSiteSpec = { name: string; kind: SiteKind } & Omit<RouterBehaviour, 'kind'>
/** Another host on the LAN of site `behind`: same router, same public address. */
export interface LanNeighbourSpec {
  name: string
  behind: string
}
export type SiteSpec = RoutedSiteSpec | LanNeighbourSpec

export interface LabSite {
  name: string
  kind: SiteKind
  /** The namespace the peer runs in. */
  hostNs: string
  /** Its own address (the LAN address behind a NAT). */
  hostIp: string
  /** The router's namespace (undefined for a public host). */
  routerNs?: string
  /** The address the rest of the lab sees (the router's WAN address behind a NAT). */
  publicIp: string
}

export interface Lab {
  /** The tracker's namespace and address, on the public side. */
  trackerNs: string
  trackerIp: string
  sites: Map<string, LabSite>
  /** Runs a command in a namespace and returns its stdout. */
  exec(ns: string, argv: string[], input?: string): string
  /**
   * Starts a long-running process in a namespace; `destroy()` kills it (by PID). `stdin: true` gives
   * it a pipe for commands (otherwise stdin is empty).
   */
  spawn(ns: string, argv: string[], opts?: { stdin?: boolean }): ChildProcess
  /** Deletes every namespace and kills every process this lab started. Safe to call twice. */
  destroy(): void
}

function sh(argv: string[], input?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    ...(input === undefined ? {} : { input }),
  })
}

/** Sites with their own link to the internet: 203.0.113.4n+1/30 or 198.18.n.0/30 leave room for this many. */
const MAX_ROUTED_SITES = 31
/** Firewalled LANs are public /29s from 203.0.113.128 up. */
const MAX_FIREWALL_SITES = 16

/**
 * Builds a lab of network namespaces (docs/natlab.md): a tracker host and sites joined by a routing
 * namespace (a real hop, so TTL matters). A site is a public host, or hosts on a LAN bridge behind a
 * router that is a cone NAT, a symmetric NAT or a firewall without NAT, optionally dropping UDP,
 * losing packets or limiting its uplink (lab-router.ts). Addresses: 203.0.113.0/24 for the public
 * side (and the firewalled LANs), 198.18.0.0/15 for WAN links and NATed LANs.
 */
export function createLab(sites: SiteSpec[]): Lab {
  const prefix = `ps${process.pid % 100000}${Math.floor(Math.random() * 1000)}`
  const namespaces: string[] = []
  const children: ChildProcess[] = []
  let destroyed = false
  let link = 0
  const ns = (name: string) => {
    const full = `${prefix}-${name}`
    sh(['ip', 'netns', 'add', full])
    namespaces.push(full)
    sh(['ip', '-n', full, 'link', 'set', 'lo', 'up'])
    return full
  }
  const exec = (n: string, argv: string[], input?: string) => sh(['ip', 'netns', 'exec', n, ...argv], input)
  /** A veth pair between two namespaces, each end up and (if given an address) addressed. */
  const wire = (a: string, aIp: string | undefined, b: string, bIp: string, bits: number) => {
    const i = link++
    const ea = `${prefix}a${i}`.slice(-15)
    const eb = `${prefix}b${i}`.slice(-15)
    sh(['ip', 'link', 'add', ea, 'type', 'veth', 'peer', 'name', eb])
    sh(['ip', 'link', 'set', ea, 'netns', a])
    sh(['ip', 'link', 'set', eb, 'netns', b])
    if (aIp) sh(['ip', '-n', a, 'addr', 'add', `${aIp}/${bits}`, 'dev', ea])
    sh(['ip', '-n', b, 'addr', 'add', `${bIp}/${bits}`, 'dev', eb])
    sh(['ip', '-n', a, 'link', 'set', ea, 'up'])
    sh(['ip', '-n', b, 'link', 'set', eb, 'up'])
    return { ea, eb }
  }
  const lab: Lab = {
    trackerNs: '',
    trackerIp: '203.0.113.2',
    sites: new Map(),
    exec,
    spawn: (n, argv, opts) => {
      const child = spawn('ip', ['netns', 'exec', n, ...argv], {
        stdio: [opts?.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      })
      children.push(child)
      return child
    },
    destroy: () => {
      if (destroyed) return
      destroyed = true
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
      for (const n of namespaces) {
        try {
          sh(['ip', 'netns', 'del', n])
        } catch {
          // already gone
        }
      }
    },
  }
  /** Per router site: its LAN bridge, the next free host number and the LAN's address pattern. */
  const lans = new Map<
    string,
    {
      routerNs: string
      bridge: string
      lan: (host: number) => string
      bits: number
      next: number
      publicIp?: string
    }
  >()
  const addLanHost = (site: string, name: string, kind: SiteKind) => {
    const l = lans.get(site)!
    const host = ns(name)
    const ip = l.lan(l.next++)
    const { ea } = wire(l.routerNs, undefined, host, ip, l.bits)
    sh(['ip', '-n', l.routerNs, 'link', 'set', ea, 'master', l.bridge])
    exec(host, ['ip', 'route', 'add', 'default', 'via', l.lan(1)])
    lab.sites.set(name, {
      name,
      kind,
      hostNs: host,
      hostIp: ip,
      routerNs: l.routerNs,
      publicIp: l.publicIp ?? ip,
    })
  }
  try {
    // The internet: one routing namespace every site and the tracker hang off.
    const inet = ns('inet')
    exec(inet, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    lab.trackerNs = ns('tracker')
    wire(inet, '203.0.113.1', lab.trackerNs, lab.trackerIp, 30)
    exec(lab.trackerNs, ['ip', 'route', 'add', 'default', 'via', '203.0.113.1'])
    const routed = sites.filter((s): s is RoutedSiteSpec => 'kind' in s)
    if (routed.length > MAX_ROUTED_SITES)
      throw new Error(`at most ${MAX_ROUTED_SITES} sites with their own link`)
    let firewalls = 0
    routed.forEach((s, i) => {
      const n = i + 1
      if (s.kind === 'public') {
        if (s.blockUdp || s.loss || s.uplinkMbit)
          throw new Error(`public site ${s.name} has no router to impair`)
        const host = ns(s.name)
        const ip = `203.0.113.${4 * n + 2}`
        wire(inet, `203.0.113.${4 * n + 1}`, host, ip, 30)
        exec(host, ['ip', 'route', 'add', 'default', 'via', `203.0.113.${4 * n + 1}`])
        lab.sites.set(s.name, { name: s.name, kind: s.kind, hostNs: host, hostIp: ip, publicIp: ip })
        return
      }
      const router = ns(`${s.name}-r`)
      const wanIp = `198.18.${n}.2`
      const { eb: wan } = wire(inet, `198.18.${n}.1`, router, wanIp, 30)
      exec(router, ['ip', 'route', 'add', 'default', 'via', `198.18.${n}.1`])
      // The LAN: a bridge, so several hosts can share the router (and its public address).
      const firewall = s.kind === 'firewall'
      if (firewall && firewalls >= MAX_FIREWALL_SITES)
        throw new Error(`at most ${MAX_FIREWALL_SITES} firewall sites`)
      const base = 128 + 8 * firewalls
      const lan = firewall ? (h: number) => `203.0.113.${base + h}` : (h: number) => `198.19.${n}.${h}`
      const bits = firewall ? 29 : 24
      if (firewall) {
        firewalls++
        exec(inet, ['ip', 'route', 'add', `203.0.113.${base}/29`, 'via', wanIp])
      }
      const bridge = 'lan'
      exec(router, ['ip', 'link', 'add', bridge, 'type', 'bridge'])
      exec(router, ['ip', 'addr', 'add', `${lan(1)}/${bits}`, 'dev', bridge])
      exec(router, ['ip', 'link', 'set', bridge, 'up'])
      // Bridged LAN traffic must not pass the router's FORWARD chain (br_netfilter is on in new
      // namespaces), or two hosts on one LAN could not talk to each other.
      exec(router, [
        'sysctl',
        '-qw',
        'net.ipv4.ip_forward=1',
        'net.bridge.bridge-nf-call-iptables=0',
        'net.bridge.bridge-nf-call-ip6tables=0',
      ])
      exec(router, ['iptables-restore'], routerRules({ ...s, kind: s.kind }, wan, bridge))
      if (s.uplinkMbit) exec(router, uplinkQdisc(wan, s.uplinkMbit))
      lans.set(s.name, {
        routerNs: router,
        bridge,
        lan,
        bits,
        next: 2,
        ...(firewall ? {} : { publicIp: wanIp }),
      })
      addLanHost(s.name, s.name, s.kind)
    })
    for (const s of sites) {
      if ('kind' in s) continue
      const owner = lab.sites.get(s.behind)
      if (!owner?.routerNs) throw new Error(`${s.name}: site ${s.behind} has no router to sit behind`)
      addLanHost(s.behind, s.name, owner.kind)
    }
  } catch (err) {
    lab.destroy()
    throw err
  }
  return lab
}
