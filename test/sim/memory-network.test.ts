import { describe, expect, it } from 'vitest'
import type { UdpAddress } from '../../protocol/datagram-socket.js'
import { xorshiftRandom } from '../helpers/xorshift-random.js'
import { MemoryNetwork, type MemorySocket, NAT_PRESETS, type NatOptions } from './memory-network.js'
import { VirtualClock } from './virtual-clock.js'

interface Arrival {
  bytes: Uint8Array
  from: UdpAddress
  at: number
}

function setup(seed = 1) {
  const clock = new VirtualClock()
  const net = new MemoryNetwork({ clock, random: xorshiftRandom(seed) })
  const collect = (socket: MemorySocket): Arrival[] => {
    const got: Arrival[] = []
    socket.on('message', (bytes, from) => got.push({ bytes, from, at: clock.now() }))
    return got
  }
  return { clock, net, collect }
}

const u32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}
const readU32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0)
const fromKey = (a: Arrival) => `${a.from.address}:${a.from.port}`

describe('MemoryNetwork basics', () => {
  it('delivers after the path delay, asynchronously, with a copy of the bytes', () => {
    const { clock, net, collect } = setup()
    const a = net.bind('1.0.0.1', 1000)
    const b = net.bind('1.0.0.2', 2000)
    net.link('1.0.0.1', '1.0.0.2', { delayMs: 25 })
    const got = collect(b)
    const buf = new Uint8Array([1, 2, 3])
    a.send(buf, b.address())
    buf[0] = 9
    expect(got).toHaveLength(0)
    clock.advance(24)
    expect(got).toHaveLength(0)
    clock.advance(1)
    expect(got).toEqual([{ bytes: new Uint8Array([1, 2, 3]), from: a.address(), at: 25 }])
    expect(a.address()).toEqual({ address: '1.0.0.1', port: 1000, family: 'IPv4' })
  })

  it('never delivers inside send, even with no delay', () => {
    const { clock, net, collect } = setup()
    const a = net.bind('1.0.0.1', 1000)
    const got = collect(a)
    a.send(new Uint8Array([1]), a.address())
    expect(got).toHaveLength(0)
    clock.advance(0)
    expect(got).toHaveLength(1)
  })

  it('binds ephemeral ports from 40000, refuses taken ports and frees them on close', () => {
    const { clock, net } = setup()
    expect(net.bind('1.0.0.1').port).toBe(40000)
    expect(net.bind('1.0.0.1', 0).port).toBe(40001)
    const s = net.bind('1.0.0.1', 7000)
    expect(() => net.bind('1.0.0.1', 7000)).toThrow(/in use/)
    expect(net.bind('1.0.0.2', 7000).port).toBe(7000)
    let closed = false
    s.on('close', () => {
      closed = true
    })
    s.close()
    clock.advance(0)
    expect(closed).toBe(true)
    expect(net.bind('1.0.0.1', 7000).port).toBe(7000)
  })

  it('silently drops datagrams to unbound or closed ports, and sends from closed sockets', () => {
    const { clock, net, collect } = setup()
    const a = net.bind('1.0.0.1', 1000)
    const b = net.bind('1.0.0.2', 2000)
    const got = collect(b)
    a.send(new Uint8Array([1]), { address: '1.0.0.2', port: 2001 })
    a.send(new Uint8Array([1]), { address: '9.9.9.9', port: 1 })
    b.close()
    a.send(new Uint8Array([1]), b.address())
    a.close()
    a.send(new Uint8Array([1]), b.address())
    clock.advance(100)
    expect(got).toHaveLength(0)
    expect(net.stats()).toMatchObject({ sent: 3, delivered: 0, droppedNoListener: 3 })
  })

  it('lets jitter reorder packets while keeping each delay in [delay, delay + jitter)', () => {
    const { clock, net, collect } = setup(3)
    const a = net.bind('1.0.0.1', 1000)
    const b = net.bind('1.0.0.2', 2000)
    net.path('1.0.0.1', '1.0.0.2', { delayMs: 10, jitterMs: 20 })
    const got = collect(b)
    for (let i = 0; i < 1000; i++) clock.setTimer(i, () => a.send(u32(i), b.address()))
    clock.advance(2000)
    expect(got).toHaveLength(1000)
    let inversions = 0
    for (let i = 0; i < got.length; i++) {
      const seq = readU32(got[i]!.bytes)
      const delay = got[i]!.at - seq
      expect(delay).toBeGreaterThanOrEqual(10)
      expect(delay).toBeLessThan(30)
      if (i > 0 && seq < readU32(got[i - 1]!.bytes)) inversions++
    }
    expect(inversions).toBeGreaterThan(100)
  })

  it('loses about the configured fraction of 10,000 packets', () => {
    const { clock, net, collect } = setup(5)
    const a = net.bind('1.0.0.1', 1000)
    const b = net.bind('1.0.0.2', 2000)
    net.defaultPath({ delayMs: 5, loss: 0.1 })
    const got = collect(b)
    for (let i = 0; i < 10_000; i++) a.send(u32(i), b.address())
    clock.advance(10)
    const { lost, delivered, sent } = net.stats()
    expect(sent).toBe(10_000)
    expect(lost).toBeGreaterThan(900)
    expect(lost).toBeLessThan(1100)
    expect(delivered).toBe(10_000 - lost)
    expect(got).toHaveLength(delivered)
  })

  it('duplicates about the configured fraction, the copy arriving later as its own buffer', () => {
    const { clock, net, collect } = setup(9)
    const a = net.bind('1.0.0.1', 1000)
    const b = net.bind('1.0.0.2', 2000)
    net.defaultPath({ delayMs: 10, duplicate: 0.05 })
    const got = collect(b)
    for (let i = 0; i < 4000; i++) a.send(u32(i), b.address())
    clock.advance(100)
    const { duplicated } = net.stats()
    expect(duplicated).toBeGreaterThan(150)
    expect(duplicated).toBeLessThan(250)
    expect(got).toHaveLength(4000 + duplicated)
    const firstSeen = new Map<number, Arrival>()
    for (const g of got) {
      const seq = readU32(g.bytes)
      const first = firstSeen.get(seq)
      if (first === undefined) firstSeen.set(seq, g)
      else {
        expect(g.at).toBeGreaterThan(first.at)
        expect(g.bytes).not.toBe(first.bytes)
      }
    }
    expect(firstSeen.size).toBe(4000)
  })

  it('holds back reordered packets by 2 * delay + 1 unless told otherwise', () => {
    const { clock, net, collect } = setup(11)
    const a = net.bind('1.0.0.1', 1000)
    const b = net.bind('1.0.0.2', 2000)
    net.path('1.0.0.1', '1.0.0.2', { delayMs: 10, reorder: 0.2 })
    const got = collect(b)
    for (let i = 0; i < 1000; i++) a.send(u32(i), b.address())
    clock.advance(100)
    const late = got.filter((g) => g.at === 31).length
    expect(got.filter((g) => g.at === 10).length + late).toBe(1000)
    expect(late).toBeGreaterThan(150)
    expect(late).toBeLessThan(250)
    // Paths are one-directional: the way back is the default (no delay).
    const back = collect(a)
    b.send(u32(0), a.address())
    clock.advance(0)
    expect(back).toHaveLength(1)
  })
})

describe('MemoryNetwork determinism', () => {
  const trace = (seed: number) => {
    const { clock, net } = setup(seed)
    const nat = net.nat('5.0.0.1', NAT_PRESETS.symmetric)
    const a = net.bind('10.0.0.2', 5000, { behind: nat })
    const b = net.bind('1.0.0.2', 2000)
    const c = net.bind('1.0.0.3', 2000)
    net.defaultPath({ delayMs: 10, jitterMs: 15, loss: 0.05, duplicate: 0.05, reorder: 0.05 })
    const out: string[] = []
    const record = (s: MemorySocket) =>
      s.on('message', (bytes, from) => out.push(`${clock.now()}:${from.port}:${readU32(bytes)}`))
    record(b)
    record(c)
    for (let i = 0; i < 300; i++) clock.setTimer(i, () => a.send(u32(i), (i % 2 ? b : c).address()))
    clock.advance(1000)
    return out
  }

  it('replays the same deliveries for the same seed and differs for another', () => {
    const first = trace(42)
    expect(first.length).toBeGreaterThan(250)
    expect(trace(42)).toEqual(first)
    expect(trace(43)).not.toEqual(first)
  })
})

describe('MemoryNetwork uplink bottleneck', () => {
  // 972-byte datagrams are 1000 bytes on the wire.
  const PAYLOAD = 972

  it('caps throughput at the rate and queueing delay at queueBytes / rate, dropping the excess', () => {
    const { clock, net, collect } = setup()
    const a = net.bind('1.0.0.1', 1000)
    const b = net.bind('1.0.0.2', 2000)
    net.link('1.0.0.1', '1.0.0.2', { delayMs: 10 })
    net.uplink('1.0.0.1', { rateBytesPerSec: 100_000, queueBytes: 20_000 })
    const got = collect(b)
    const sentAt: number[] = []
    // Offer twice the rate for 10 s.
    for (let i = 0; i < 2000; i++) {
      clock.setTimer(i * 5, () => {
        sentAt[i] = clock.now()
        a.send(new Uint8Array(PAYLOAD).fill(i & 0xff), b.address())
        expect(net.queueDelayMs('1.0.0.1')).toBeLessThanOrEqual(200)
      })
    }
    clock.advance(10_000)
    const inTenSeconds = got.length * 1000
    expect(inTenSeconds).toBeGreaterThan(0.97 * 1_000_000)
    expect(inTenSeconds).toBeLessThanOrEqual(1_000_000)
    clock.advance(1000)
    const q = net.queueStats('1.0.0.1')
    expect(q.drops).toBeGreaterThan(900)
    expect(q.maxQueuedBytes).toBeLessThanOrEqual(20_000)
    expect(q.sentBytes).toBe(got.length * 1000)
    expect(q.queuedBytes).toBe(0)
    expect(net.stats().droppedByQueue).toBe(q.drops)
  })

  it('serialises a burst from all sockets to all destinations in FIFO order', () => {
    const { clock, net, collect } = setup()
    const s1 = net.bind('1.0.0.1', 1000)
    const s2 = net.bind('1.0.0.1', 1001)
    const x = net.bind('1.0.0.2', 2000)
    const y = net.bind('1.0.0.3', 2000)
    net.defaultPath({ delayMs: 10 })
    net.uplink('1.0.0.1', { rateBytesPerSec: 100_000, queueBytes: 10_000 })
    const atX = collect(x)
    const atY = collect(y)
    for (let i = 0; i < 20; i++) {
      const s = i % 2 ? s2 : s1
      const buf = new Uint8Array(PAYLOAD)
      buf[0] = i
      s.send(buf, (i % 2 ? y : x).address())
    }
    expect(net.queueStats('1.0.0.1').queuedBytes).toBe(10_000)
    expect(net.queueDelayMs('1.0.0.1')).toBe(100)
    clock.advance(1000)
    // Ten fit in the queue; each takes 10 ms on the wire, then 10 ms of path delay.
    const all = [...atX, ...atY].sort((p, q) => p.at - q.at)
    expect(all.map((g) => g.bytes[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(all.map((g) => g.at)).toEqual([20, 30, 40, 50, 60, 70, 80, 90, 100, 110])
    expect(net.queueStats('1.0.0.1').drops).toBe(10)
  })

  it("can sit on a NAT's public address as the shared WAN link", () => {
    const { clock, net, collect } = setup()
    const nat = net.nat('5.0.0.1', NAT_PRESETS.fullCone)
    const h1 = net.bind('10.0.0.2', 5000, { behind: nat })
    const h2 = net.bind('10.0.0.3', 5000, { behind: nat })
    const s = net.bind('1.0.0.1', 1000)
    net.uplink('5.0.0.1', { rateBytesPerSec: 100_000, queueBytes: 50_000 })
    const got = collect(s)
    for (let i = 0; i < 5; i++) {
      h1.send(new Uint8Array(PAYLOAD), s.address())
      h2.send(new Uint8Array(PAYLOAD), s.address())
    }
    clock.advance(1000)
    expect(got.map((g) => g.at)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    expect(net.queueStats('5.0.0.1').sentBytes).toBe(10_000)
  })
})

function natWorld(options: NatOptions, seed = 1) {
  const w = setup(seed)
  const nat = w.net.nat('5.0.0.1', options)
  const client = w.net.bind('10.0.0.2', 5000, { behind: nat })
  const s1 = w.net.bind('1.1.1.1', 1000)
  const s1OtherPort = w.net.bind('1.1.1.1', 1001)
  const s2 = w.net.bind('2.2.2.2', 1000)
  w.net.defaultPath({ delayMs: 5 })
  return { ...w, nat, client, s1, s1OtherPort, s2 }
}

describe.each([
  ['fullCone', { otherPort: true, otherIp: true }],
  ['restrictedCone', { otherPort: true, otherIp: false }],
  ['portRestrictedCone', { otherPort: false, otherIp: false }],
  ['symmetric', { otherPort: false, otherIp: false }],
] as const)('NAT preset %s', (name, passes) => {
  it('translates outbound, drops unsolicited inbound, and filters replies by endpoint', () => {
    const { clock, net, nat, client, s1, s1OtherPort, s2, collect } = natWorld(NAT_PRESETS[name])
    const atClient = collect(client)
    const atS1 = collect(s1)

    s1.send(u32(0), { address: '5.0.0.1', port: 5000 })
    clock.advance(10)
    expect(atClient).toHaveLength(0)
    expect(net.stats().droppedByNat).toBe(1)
    expect(nat.stats().droppedInbound).toBe(1)

    client.send(u32(1), s1.address())
    clock.advance(10)
    expect(atS1).toHaveLength(1)
    const mapped = atS1[0]!.from
    expect(mapped.address).toBe('5.0.0.1')
    if (name !== 'symmetric') expect(mapped.port).toBe(5000)
    expect(nat.mappings()).toEqual([
      expect.objectContaining({
        privateAddress: client.address(),
        publicAddress: { address: '5.0.0.1', port: mapped.port, family: 'IPv4' },
        contacted: ['1.1.1.1:1000'],
      }),
    ])

    s1.send(u32(2), mapped)
    clock.advance(10)
    expect(atClient.map((g) => [fromKey(g), readU32(g.bytes)])).toEqual([['1.1.1.1:1000', 2]])

    s1OtherPort.send(u32(3), mapped)
    s2.send(u32(4), mapped)
    clock.advance(10)
    const later = atClient.slice(1).map((g) => readU32(g.bytes))
    expect(later.includes(3)).toBe(passes.otherPort)
    expect(later.includes(4)).toBe(passes.otherIp)
  })

  it(`${name === 'symmetric' ? 'changes' : 'keeps'} the public port for another destination`, () => {
    const { clock, client, s1, s2, collect } = natWorld(NAT_PRESETS[name])
    const atS1 = collect(s1)
    const atS2 = collect(s2)
    client.send(u32(1), s1.address())
    client.send(u32(1), s2.address())
    clock.advance(10)
    expect(atS1[0]!.from.port === atS2[0]!.from.port).toBe(name !== 'symmetric')
  })
})

describe('NAT mappings', () => {
  it('gives a symmetric NAT a different random public port per destination', () => {
    const { clock, net, nat, client } = natWorld(NAT_PRESETS.symmetric)
    const ports = new Set<number>()
    for (let i = 0; i < 5; i++) {
      const s = net.bind('3.0.0.1', 2000 + i)
      s.on('message', (_b, from) => ports.add(from.port))
      client.send(u32(i), s.address())
    }
    clock.advance(10)
    expect(ports.size).toBe(5)
    expect(nat.mappings()).toHaveLength(5)
    expect(ports.has(5000)).toBe(false)
  })

  it('expires a mapping after mappingTimeoutMs without outbound traffic; inbound does not refresh it', () => {
    const { clock, client, s1, collect } = natWorld(NAT_PRESETS.portRestrictedCone)
    const atClient = collect(client)
    const mapped = { address: '5.0.0.1', port: 5000 }
    client.send(u32(0), s1.address()) // t = 0
    clock.advance(25_000)
    s1.send(u32(1), mapped) // arrives at 25 005
    clock.advance(4_990) // t = 29 990
    s1.send(u32(2), mapped) // arrives at 29 995: still alive
    clock.advance(10)
    s1.send(u32(3), mapped) // arrives at 30 005: expired
    clock.advance(10)
    expect(atClient.map((g) => readU32(g.bytes))).toEqual([1, 2])
  })

  it('refreshes a mapping with outbound traffic', () => {
    const { clock, nat, client, s1, collect } = natWorld({
      ...NAT_PRESETS.portRestrictedCone,
      mappingTimeoutMs: 1000,
    })
    const atClient = collect(client)
    const mapped = { address: '5.0.0.1', port: 5000 }
    for (let t = 0; t < 5000; t += 800) clock.setTimer(t, () => client.send(u32(0), s1.address()))
    clock.advance(4900)
    s1.send(u32(1), mapped)
    clock.advance(100)
    expect(atClient).toHaveLength(1)
    expect(nat.mappings()[0]!.expiresAt).toBe(5800)
    clock.advance(1000)
    expect(nat.mappings()).toEqual([])
  })

  it('forgets every mapping on flush', () => {
    const { clock, net, nat, client, s1, collect } = natWorld(NAT_PRESETS.fullCone)
    const atClient = collect(client)
    client.send(u32(0), s1.address())
    clock.advance(10)
    expect(nat.mappings()).toHaveLength(1)
    nat.flush()
    expect(nat.mappings()).toEqual([])
    s1.send(u32(1), { address: '5.0.0.1', port: 5000 })
    clock.advance(10)
    expect(atClient).toHaveLength(0)
    expect(net.stats().droppedByNat).toBe(1)
  })

  it('lets a low-TTL probe open the mapping without reaching the far side', () => {
    const { clock, net, client, s1, collect } = natWorld(NAT_PRESETS.portRestrictedCone)
    const atS1 = collect(s1)
    const atClient = collect(client)
    client.setTTL(2)
    client.send(u32(0), s1.address())
    clock.advance(10)
    expect(atS1).toHaveLength(0)
    expect(net.stats().droppedByTtl).toBe(1)
    s1.send(u32(1), { address: '5.0.0.1', port: 5000 })
    clock.advance(10)
    expect(atClient).toHaveLength(1)
    client.setTTL(64)
    client.send(u32(2), s1.address())
    clock.advance(10)
    expect(atS1).toHaveLength(1)
    // Without a NAT the TTL does not matter.
    const pub = net.bind('3.0.0.1', 1)
    pub.setTTL(1)
    pub.send(u32(3), s1.address())
    clock.advance(10)
    expect(atS1).toHaveLength(2)
  })

  it('routes between neighbours by private address, and by public address only with hairpin', () => {
    for (const hairpin of [false, true]) {
      const { clock, net, collect } = setup()
      const nat = net.nat('5.0.0.1', { ...NAT_PRESETS.fullCone, hairpin })
      const a = net.bind('10.0.0.2', 5000, { behind: nat })
      const b = net.bind('10.0.0.3', 6000, { behind: nat })
      const atA = collect(a)
      a.send(u32(0), { address: '8.8.8.8', port: 53 }) // opens a's mapping
      b.send(u32(1), a.address())
      b.send(u32(2), { address: '5.0.0.1', port: 5000 })
      clock.advance(10)
      expect(atA.map((g) => [fromKey(g), readU32(g.bytes)])).toEqual(
        hairpin
          ? [
              ['10.0.0.3:6000', 1],
              ['5.0.0.1:6000', 2],
            ]
          : [['10.0.0.3:6000', 1]],
      )
    }
  })

  it('keeps equal private addresses behind different NATs apart', () => {
    const { clock, net, collect } = setup()
    const n1 = net.nat('5.0.0.1', NAT_PRESETS.fullCone)
    const n2 = net.nat('6.0.0.1', NAT_PRESETS.fullCone)
    const a = net.bind('192.168.1.2', 5000, { behind: n1 })
    const b = net.bind('192.168.1.2', 5000, { behind: n2 })
    const s = net.bind('1.1.1.1', 1000)
    const got = collect(s)
    a.send(u32(0), s.address())
    b.send(u32(1), s.address())
    clock.advance(10)
    expect(got.map(fromKey)).toEqual(['5.0.0.1:5000', '6.0.0.1:5000'])
    expect(() => net.uplink('192.168.1.2', { rateBytesPerSec: 1, queueBytes: 1 })).toThrow(/ambiguous/)
  })
})

describe('firewall and blocked models', () => {
  it('a stateful firewall keeps the host address and port, and admits only replies', () => {
    const { clock, net, collect } = setup()
    const fw = net.nat('7.0.0.1', NAT_PRESETS.statefulFirewall)
    const host = net.bind('7.0.0.1', 6881, { behind: fw })
    const s1 = net.bind('1.1.1.1', 1000)
    const s1OtherPort = net.bind('1.1.1.1', 1001)
    const atHost = collect(host)
    const atS1 = collect(s1)
    s1.send(u32(0), host.address())
    clock.advance(10)
    expect(atHost).toHaveLength(0)
    host.setTTL(2)
    host.send(u32(1), s1.address())
    clock.advance(10)
    // The low-TTL probe opened the firewall's state without leaving the site.
    expect(atS1).toHaveLength(0)
    s1.send(u32(2), host.address())
    s1OtherPort.send(u32(3), host.address())
    host.setTTL(64)
    host.send(u32(4), s1.address())
    clock.advance(10)
    expect(atHost.map((g) => [fromKey(g), readU32(g.bytes)])).toEqual([['1.1.1.1:1000', 2]])
    expect(atS1.map(fromKey)).toEqual(['7.0.0.1:6881'])
    expect(() => net.bind('7.0.0.2', 1, { behind: fw })).toThrow(/sits at its address/)
  })

  it('a UDP-blocking network drops every datagram both ways', () => {
    const { clock, net, collect } = setup()
    const nat = net.nat('7.0.0.1', NAT_PRESETS.udpBlocked)
    const host = net.bind('10.0.0.2', 6881, { behind: nat })
    const s1 = net.bind('1.1.1.1', 1000)
    const atHost = collect(host)
    const atS1 = collect(s1)
    host.send(u32(1), s1.address())
    s1.send(u32(2), { address: '7.0.0.1', port: 6881 })
    clock.advance(10)
    expect(atHost).toHaveLength(0)
    expect(atS1).toHaveLength(0)
    expect(net.stats().droppedByNat).toBe(2)
  })
})

describe('hole punching between two NATs', () => {
  function twoPeers(options: NatOptions, seed: number) {
    const w = setup(seed)
    const natA = w.net.nat('5.0.0.1', options)
    const natB = w.net.nat('6.0.0.1', options)
    const a = w.net.bind('192.168.1.2', 5000, { behind: natA })
    const b = w.net.bind('192.168.1.2', 5000, { behind: natB })
    const rendezvous = w.net.bind('1.1.1.1', 3478)
    w.net.defaultPath({ delayMs: 20 })
    const seen = w.collect(rendezvous)
    // Each peer learns the other's public endpoint as the rendezvous server saw it.
    a.send(u32(0), rendezvous.address())
    b.send(u32(1), rendezvous.address())
    w.clock.advance(100)
    const aPublic = seen.find((g) => g.from.address === '5.0.0.1')!.from
    const bPublic = seen.find((g) => g.from.address === '6.0.0.1')!.from
    return { ...w, a, b, aPublic, bPublic, atA: w.collect(a), atB: w.collect(b) }
  }

  it('connects two port-restricted cones once both have sent to each other', () => {
    const { clock, net, a, b, aPublic, bPublic, atA, atB } = twoPeers(NAT_PRESETS.portRestrictedCone, 21)
    a.send(u32(10), bPublic) // dropped by B's NAT, but opens A's filter for B
    clock.advance(100)
    expect(atB).toHaveLength(0)
    expect(net.stats().droppedByNat).toBe(1)
    b.send(u32(11), aPublic)
    clock.advance(100)
    a.send(u32(12), bPublic)
    clock.advance(100)
    expect(atA.map((g) => [fromKey(g), readU32(g.bytes)])).toEqual([['6.0.0.1:5000', 11]])
    expect(atB.map((g) => [fromKey(g), readU32(g.bytes)])).toEqual([['5.0.0.1:5000', 12]])
  })

  it('connects them when both send at the same moment (simultaneous open)', () => {
    const { clock, a, b, aPublic, bPublic, atA, atB } = twoPeers(NAT_PRESETS.portRestrictedCone, 22)
    a.send(u32(10), bPublic)
    b.send(u32(11), aPublic)
    clock.advance(100)
    expect(atA).toHaveLength(1)
    expect(atB).toHaveLength(1)
  })

  it('fails between two symmetric NATs when each aims at the port the other showed the server', () => {
    const { clock, net, a, b, aPublic, bPublic, atA, atB } = twoPeers(NAT_PRESETS.symmetric, 23)
    for (let round = 0; round < 5; round++) {
      a.send(u32(10), bPublic)
      b.send(u32(11), aPublic)
      clock.advance(100)
    }
    expect(atA).toHaveLength(0)
    expect(atB).toHaveLength(0)
    expect(net.stats().droppedByNat).toBe(10)
  })
})
