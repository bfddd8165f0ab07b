import { type ChildProcess, execFileSync, spawn } from 'node:child_process'

/** How a site's router treats traffic: a home NAT (cone), a symmetric NAT, or none (public host). */
export type SiteKind = 'cone' | 'symmetric' | 'public'

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
  exec(ns: string, argv: string[]): string
  /**
   * Starts a long-running process in a namespace; `destroy()` kills it (by PID). `stdin: true` gives
   * it a pipe for commands (otherwise stdin is empty).
   */
  spawn(ns: string, argv: string[], opts?: { stdin?: boolean }): ChildProcess
  /** Deletes every namespace and kills every process this lab started. Safe to call twice. */
  destroy(): void
}

function sh(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/**
 * Builds a lab of network namespaces: a tracker host and sites joined by a routing namespace (a real
 * hop, so TTL matters), each site a host behind its own router, or a public host. Routers are Linux
 * NAT as a home router does it (see docs/testing.md): MASQUERADE (endpoint-independent mapping,
 * port-restricted filtering) or MASQUERADE --random-fully (symmetric), FORWARD dropping what the
 * inside did not start, and INPUT on the WAN dropping unsolicited packets to the router itself.
 * Addresses: 203.0.113.0/24 for the public side, 198.18.0.0/15 for WAN links and LANs.
 */
export function createLab(sites: { name: string; kind: SiteKind }[]): Lab {
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
  const exec = (n: string, argv: string[]) => sh(['ip', 'netns', 'exec', n, ...argv])
  /** A veth pair between two namespaces, with an address on each end. */
  const wire = (a: string, aIp: string, b: string, bIp: string, bits: number) => {
    const i = link++
    const ea = `${prefix}a${i}`.slice(-15)
    const eb = `${prefix}b${i}`.slice(-15)
    sh(['ip', 'link', 'add', ea, 'type', 'veth', 'peer', 'name', eb])
    sh(['ip', 'link', 'set', ea, 'netns', a])
    sh(['ip', 'link', 'set', eb, 'netns', b])
    sh(['ip', '-n', a, 'addr', 'add', `${aIp}/${bits}`, 'dev', ea])
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
  try {
    // The internet: one routing namespace every site and the tracker hang off.
    const inet = ns('inet')
    exec(inet, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    lab.trackerNs = ns('tracker')
    wire(inet, '203.0.113.1', lab.trackerNs, lab.trackerIp, 30)
    exec(lab.trackerNs, ['ip', 'route', 'add', 'default', 'via', '203.0.113.1'])
    sites.forEach((s, i) => {
      const n = i + 1
      if (s.kind === 'public') {
        const host = ns(s.name)
        const ip = `203.0.113.${4 * n + 2}`
        wire(inet, `203.0.113.${4 * n + 1}`, host, ip, 30)
        exec(host, ['ip', 'route', 'add', 'default', 'via', `203.0.113.${4 * n + 1}`])
        lab.sites.set(s.name, { name: s.name, kind: s.kind, hostNs: host, hostIp: ip, publicIp: ip })
        return
      }
      const router = ns(`${s.name}-r`)
      const host = ns(s.name)
      const wanIp = `198.18.${n}.2`
      const { eb: wan } = wire(inet, `198.18.${n}.1`, router, wanIp, 30)
      const lanIp = `198.19.${n}.2`
      const { ea: lan } = wire(router, `198.19.${n}.1`, host, lanIp, 24)
      exec(router, ['ip', 'route', 'add', 'default', 'via', `198.18.${n}.1`])
      exec(host, ['ip', 'route', 'add', 'default', 'via', `198.19.${n}.1`])
      exec(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
      const masq = ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', wan, '-j', 'MASQUERADE']
      exec(router, s.kind === 'symmetric' ? [...masq, '--random-fully'] : masq)
      exec(router, ['iptables', '-P', 'FORWARD', 'DROP'])
      exec(router, [
        'iptables',
        '-A',
        'FORWARD',
        '-m',
        'conntrack',
        '--ctstate',
        'ESTABLISHED,RELATED',
        '-j',
        'ACCEPT',
      ])
      exec(router, ['iptables', '-A', 'FORWARD', '-i', lan, '-o', wan, '-j', 'ACCEPT'])
      // A home router drops unsolicited packets to itself; without this, an early punch packet
      // confirms a conntrack entry on the router and the inside host's mapping is moved.
      exec(router, [
        'iptables',
        '-A',
        'INPUT',
        '-i',
        wan,
        '-m',
        'conntrack',
        '--ctstate',
        'ESTABLISHED,RELATED',
        '-j',
        'ACCEPT',
      ])
      exec(router, ['iptables', '-A', 'INPUT', '-i', wan, '-j', 'DROP'])
      lab.sites.set(s.name, {
        name: s.name,
        kind: s.kind,
        hostNs: host,
        hostIp: lanIp,
        routerNs: router,
        publicIp: wanIp,
      })
    })
  } catch (err) {
    lab.destroy()
    throw err
  }
  return lab
}
