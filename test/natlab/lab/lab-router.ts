/** What a site's router does to the traffic it forwards. */
export interface RouterBehaviour {
  /**
   * 'cone': MASQUERADE (endpoint-independent mapping, port-restricted filtering, like a home router).
   * 'symmetric': MASQUERADE --random-fully (a fresh public port per destination).
   * 'firewall': no NAT (the LAN is public), but the same stateful filter: unsolicited inbound dropped.
   */
  kind: 'cone' | 'symmetric' | 'firewall'
  /** Drop every UDP packet the router would forward; TCP still works. */
  blockUdp?: boolean
  /** Drop this fraction (0..1) of forwarded packets at random, in both directions. */
  loss?: number
  /** Limit the WAN egress (the LAN's uplink) to this many Mbit/s with a tbf qdisc. */
  uplinkMbit?: number
}

/**
 * The router's ruleset, as an iptables-restore file: read top to bottom, like a home router's
 * configuration. Impairments come first so they hit every flow, established or not.
 */
export function routerRules(b: RouterBehaviour, wan: string, lan: string): string {
  const rules = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]']
  if (b.loss) rules.push(`-A FORWARD -m statistic --mode random --probability ${b.loss} -j DROP`)
  if (b.blockUdp) rules.push('-A FORWARD -p udp -j DROP')
  rules.push(
    // Forward what the inside started, and the answers to it; drop everything else.
    '-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    `-A FORWARD -i ${lan} -o ${wan} -j ACCEPT`,
    // A home router drops unsolicited packets to itself: without this, an early punch packet confirms
    // a conntrack entry on the router and the inside host's mapping is moved to another port.
    `-A INPUT -i ${wan} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    `-A INPUT -i ${wan} -j DROP`,
    'COMMIT',
  )
  if (b.kind !== 'firewall') {
    const random = b.kind === 'symmetric' ? ' --random-fully' : ''
    rules.push('*nat', `-A POSTROUTING -o ${wan} -j MASQUERADE${random}`, 'COMMIT')
  }
  return `${rules.join('\n')}\n`
}

/** The tbf qdisc that limits the uplink: a 16 KiB burst and at most 200 ms of queue. */
export function uplinkQdisc(wan: string, mbit: number): string[] {
  return [
    'tc',
    'qdisc',
    'add',
    'dev',
    wan,
    'root',
    'tbf',
    'rate',
    `${mbit}mbit`,
    'burst',
    '16kb',
    'latency',
    '200ms',
  ]
}
