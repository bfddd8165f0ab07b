import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProtocolError } from '../../../../protocol/errors.js'
import { BLOCK_BYTES, type BlockRequest, PiecePicker } from '../../../../protocol/swarm/piece-picker.js'
import { xorshiftRandom } from '../../../helpers/xorshift-random.js'

const all = () => true
const bitfield = (n: number, pieces: number[]) => {
  const b = new Uint8Array(Math.ceil(n / 8))
  for (const i of pieces) b[i >> 3]! |= 0x80 >> (i & 7)
  return b
}
const picker = (
  pieceCount: number,
  extra: { pieceLength?: number; seed?: number; randomFirst?: number } = {},
) =>
  new PiecePicker({
    pieceCount,
    pieceLength: extra.pieceLength ?? BLOCK_BYTES,
    lastPieceLength: extra.pieceLength ?? BLOCK_BYTES,
    random: xorshiftRandom(extra.seed ?? 1),
    randomFirstPieces: extra.randomFirst ?? 0,
  })
const key = (r: BlockRequest) => `${r.index}:${r.begin}`

describe('PiecePicker', () => {
  it('picks the rarest pieces first', () => {
    const p = picker(8)
    // Availability of piece i is 8 - i, except piece 5, which nobody but the all-peers has.
    for (let k = 1; k <= 8; k++)
      p.addAvailability(
        bitfield(
          8,
          [0, 1, 2, 3, 4, 6, 7].filter((i) => i < 9 - k),
        ),
      )
    p.addAll()
    expect(p.availability(0)).toBe(9)
    expect(p.availability(5)).toBe(1)
    const picked = p.pick('a', all, 8).map((r) => r.index)
    expect(picked).toEqual([5, 7, 6, 4, 3, 2, 1, 0])
    p.addHave(7)
    p.removeAvailability(bitfield(8, [0]))
    expect(p.availability(7)).toBe(3)
    expect(p.availability(0)).toBe(8)
  })

  it('breaks rarity ties at random', () => {
    const firsts = new Set<number>()
    for (let seed = 1; seed <= 20; seed++) firsts.add(picker(64, { seed }).pick('a', all, 1)[0]!.index)
    expect(firsts.size).toBeGreaterThan(5)
  })

  it('picks at random until it has randomFirstPieces pieces, then rarest first', () => {
    const firsts = new Set<number>()
    for (let seed = 1; seed <= 20; seed++) {
      const p = picker(16, { seed, randomFirst: 2 })
      for (let i = 1; i < 16; i++) p.addHave(i) // piece 0 is the unique rarest
      const r = p.pick('a', all, 1)[0]!
      firsts.add(r.index)
      p.onBlock('a', r)
      p.onPieceVerified(r.index)
      if (r.index === 0) continue
      // One piece had: still random. Two: rarest first.
      const r2 = p.pick('a', (i) => i !== 0, 1)[0]!
      p.onBlock('a', r2)
      p.onPieceVerified(r2.index)
      expect(p.pick('a', all, 1)[0]!.index).toBe(0)
    }
    expect(firsts.size).toBeGreaterThan(3)
  })

  it('finishes partially downloaded pieces before starting rarer ones', () => {
    const p = picker(4, { pieceLength: 4 * BLOCK_BYTES })
    p.addAvailability(bitfield(4, [0, 1, 2, 3]))
    p.addAvailability(bitfield(4, [0, 1, 2]))
    const first = p.pick('a', (i) => i === 1, 2)
    expect(first.map(key)).toEqual(['1:0', '1:16384'])
    // Piece 3 is rarer, but piece 1 is started.
    const second = p.pick('b', all, 3)
    expect(second.map(key)).toEqual(['1:32768', '1:49152', '3:0'])
  })

  it('never hands a peer the same block twice and stops when nothing is free', () => {
    const p = picker(3, { pieceLength: 3 * BLOCK_BYTES })
    const seen = new Set<string>()
    for (let i = 0; i < 9; i++) {
      const [r] = p.pick('a', all, 1)
      expect(seen.has(key(r!))).toBe(false)
      seen.add(key(r!))
    }
    expect(p.endgame).toBe(true)
    expect(p.pick('a', all, 5)).toEqual([])
    expect(p.requestsOf('a')).toHaveLength(9)
  })

  it('duplicates outstanding blocks in end game and names the peers to cancel', () => {
    const p = picker(1, { pieceLength: 2 * BLOCK_BYTES })
    const a = p.pick('a', all, 10)
    expect(a).toHaveLength(2)
    expect(p.endgame).toBe(true)
    const b = p.pick('b', all, 10)
    expect(b.map(key).sort()).toEqual(a.map(key).sort())
    const c = p.pick('c', all, 1)
    expect(c).toHaveLength(1)
    // The least duplicated block goes to the next peer.
    const d = p.pick('d', all, 1)
    expect(key(d[0]!)).not.toBe(key(c[0]!))

    const got = p.onBlock('b', c[0]!)
    expect(got.pieceComplete).toBe(false)
    expect(got.alsoRequestedBy.sort()).toEqual(['a', 'c'])
    expect(p.requestsOf('a')).toHaveLength(1)
    expect(p.requestsOf('c')).toEqual([])
    // A late duplicate is ignored.
    expect(p.onBlock('a', c[0]!)).toEqual({ pieceComplete: false, alsoRequestedBy: [] })
    expect(p.onBlock('a', d[0]!)).toEqual({ pieceComplete: true, alsoRequestedBy: ['b', 'd'] })
    expect(p.requestsOf('b')).toEqual([])
    p.onPieceVerified(0)
    expect(p.missing).toBe(0)
    expect(p.endgame).toBe(false)
    expect(p.pick('e', all, 10)).toEqual([])
  })

  it('ignores blocks that were never requested from that peer', () => {
    const p = picker(2, { pieceLength: 2 * BLOCK_BYTES })
    const [r] = p.pick('a', (i) => i === 0, 1)
    expect(p.onBlock('b', r!).pieceComplete).toBe(false)
    expect(p.onBlock('a', { index: 1, begin: 0, length: BLOCK_BYTES }).pieceComplete).toBe(false)
    expect(p.onBlock('a', { ...r!, length: 5 }).pieceComplete).toBe(false)
    expect(p.requestsOf('a')).toEqual([r])
  })

  it('frees the blocks of a dropped request or a disconnected peer', () => {
    const p = picker(2, { pieceLength: 2 * BLOCK_BYTES })
    const a = p.pick('a', all, 4)
    expect(p.endgame).toBe(true)
    p.onRequestDropped('a', a[0]!)
    expect(p.endgame).toBe(false)
    expect(p.pick('b', all, 1)).toEqual([a[0]])
    p.dropPeer('a')
    expect(p.requestsOf('a')).toEqual([])
    expect(p.endgame).toBe(false)
    expect(p.pick('b', all, 4).map(key).sort()).toEqual(a.slice(1).map(key).sort())
    // A dropped duplicate leaves the block with its other requester.
    const c = p.pick('c', all, 1)
    p.onRequestDropped('c', c[0]!)
    expect(p.endgame).toBe(true)
    expect(p.requestsOf('b')).toHaveLength(4)
  })

  it('frees every block of a piece that fails its hash check and names the contributors', () => {
    const p = picker(1, { pieceLength: 3 * BLOCK_BYTES })
    const a = p.pick('a', all, 2)
    const b = p.pick('b', all, 2)
    for (const r of a) p.onBlock('a', r)
    expect(p.onBlock('b', b[0]!).pieceComplete).toBe(true)
    expect(p.onPieceFailed(0).sort()).toEqual(['a', 'b'])
    expect(p.has(0)).toBe(false)
    expect(p.pick('c', all, 10)).toHaveLength(3)
  })

  it('sizes the last block of the last piece', () => {
    const p = new PiecePicker({
      pieceCount: 2,
      pieceLength: 40_000,
      lastPieceLength: 20_000,
      random: xorshiftRandom(3),
      randomFirstPieces: 0,
    })
    const reqs = p.pick('a', all, 10).sort((x, y) => x.index - y.index || x.begin - y.begin)
    expect(reqs).toEqual([
      { index: 0, begin: 0, length: BLOCK_BYTES },
      { index: 0, begin: BLOCK_BYTES, length: BLOCK_BYTES },
      { index: 0, begin: 2 * BLOCK_BYTES, length: 40_000 - 2 * BLOCK_BYTES },
      { index: 1, begin: 0, length: BLOCK_BYTES },
      { index: 1, begin: BLOCK_BYTES, length: 20_000 - BLOCK_BYTES },
    ])
  })

  it('starts from the pieces it already has', () => {
    const p = new PiecePicker({
      pieceCount: 10,
      pieceLength: BLOCK_BYTES,
      lastPieceLength: 100,
      random: xorshiftRandom(5),
      have: bitfield(10, [0, 2, 4, 6, 8, 9]),
    })
    expect(p.missing).toBe(4)
    expect(p.has(2)).toBe(true)
    expect(
      p
        .pick('a', all, 10)
        .map((r) => r.index)
        .sort(),
    ).toEqual([1, 3, 5, 7])
  })

  it('rejects out-of-range indexes and malformed bitfields', () => {
    const p = picker(10)
    const code = (f: () => void) => {
      try {
        f()
      } catch (e) {
        return e instanceof ProtocolError ? e.code : 'other'
      }
      return 'none'
    }
    expect(code(() => p.addHave(10))).toBe('PROTOCOL_PEER_MISBEHAVED')
    expect(code(() => p.has(-1))).toBe('PROTOCOL_PEER_MISBEHAVED')
    expect(code(() => p.onBlock('a', { index: 11, begin: 0, length: 1 }))).toBe('PROTOCOL_PEER_MISBEHAVED')
    expect(code(() => p.addAvailability(new Uint8Array(1)))).toBe('PROTOCOL_PEER_MISBEHAVED')
    expect(code(() => p.addAvailability(Uint8Array.of(0, 0x20)))).toBe('PROTOCOL_PEER_MISBEHAVED')
    expect(code(() => p.addAvailability(Uint8Array.of(0xff, 0xc0)))).toBe('none')
  })

  it('stays fast with 100,000 pieces and 50 peers', () => {
    const n = 100_000
    const p = new PiecePicker({
      pieceCount: n,
      pieceLength: 4 * BLOCK_BYTES,
      lastPieceLength: 4 * BLOCK_BYTES,
      random: xorshiftRandom(9),
    })
    const rnd = xorshiftRandom(10)
    const fields = Array.from({ length: 50 }, () => {
      const f = rnd.bytes(new Uint8Array(n / 8))
      p.addAvailability(f)
      return f
    })
    const t0 = performance.now()
    for (let round = 0; round < 200; round++) {
      const peer = round % 50
      const f = fields[peer]!
      for (const r of p.pick(String(peer), (i) => (f[i >> 3]! & (0x80 >> (i & 7))) !== 0, 16)) {
        if (p.onBlock(String(peer), r).pieceComplete) p.onPieceVerified(r.index)
      }
    }
    expect(performance.now() - t0).toBeLessThan(2000)
    expect(p.missing).toBeLessThan(n)
  })

  it('model: never hands out a block we have or received, and delivers everything in the end', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('pick' as const), peer: fc.nat(3), max: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ t: fc.constant('deliver' as const), peer: fc.nat(3), n: fc.nat(4) }),
      fc.record({ t: fc.constant('drop' as const), peer: fc.nat(3), n: fc.nat(3) }),
      fc.record({ t: fc.constant('leave' as const), peer: fc.nat(3) }),
      fc.record({ t: fc.constant('hash' as const), ok: fc.boolean() }),
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 * BLOCK_BYTES }),
        fc.array(fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), { minLength: 4, maxLength: 4 }),
        fc.array(op, { maxLength: 80 }),
        fc.integer(),
        (pieceCount, blocksPerPiece, lastLen, haves, ops, seed) => {
          const pieceLength = blocksPerPiece * BLOCK_BYTES
          const p = new PiecePicker({
            pieceCount,
            pieceLength,
            lastPieceLength: Math.min(lastLen, pieceLength),
            random: xorshiftRandom(seed),
            randomFirstPieces: 2,
          })
          const peerHas = (peer: number) => (i: number) => haves[peer]![i]!
          const received = new Set<string>()
          const outstanding = new Map<string, Set<string>>() // peer -> keys, our own model
          const complete: number[] = []
          const check = (peer: string, reqs: BlockRequest[]) => {
            const mine = outstanding.get(peer) ?? new Set()
            outstanding.set(peer, mine)
            for (const r of reqs) {
              expect(p.has(r.index)).toBe(false)
              expect(received.has(key(r))).toBe(false)
              expect(mine.has(key(r))).toBe(false)
              mine.add(key(r))
            }
          }
          const deliver = (peer: string, r: BlockRequest) => {
            const res = p.onBlock(peer, r)
            received.add(key(r))
            for (const o of [peer, ...res.alsoRequestedBy]) outstanding.get(o)?.delete(key(r))
            if (res.pieceComplete) complete.push(r.index)
          }
          for (const o of ops) {
            const peer = 'peer' in o ? String(o.peer) : ''
            if (o.t === 'pick') check(peer, p.pick(peer, peerHas(o.peer), o.max))
            else if (o.t === 'deliver') for (const r of p.requestsOf(peer).slice(0, o.n)) deliver(peer, r)
            else if (o.t === 'drop') {
              for (const r of p.requestsOf(peer).slice(0, o.n)) {
                p.onRequestDropped(peer, r)
                outstanding.get(peer)?.delete(key(r))
              }
            } else if (o.t === 'leave') {
              p.dropPeer(peer)
              outstanding.delete(peer)
            } else {
              const index = complete.shift()
              if (index === undefined) continue
              if (o.ok) p.onPieceVerified(index)
              else {
                p.onPieceFailed(index)
                for (const k of [...received]) if (k.startsWith(`${index}:`)) received.delete(k)
              }
            }
            for (const [peer, keys] of outstanding) expect(new Set(p.requestsOf(peer).map(key))).toEqual(keys)
          }
          // A seeder arrives and everyone delivers whatever they asked for.
          for (let round = 0; p.missing > 0; round++) {
            expect(round).toBeLessThan(1000)
            for (const peer of ['0', '1', '2', '3', 'seed']) {
              const reqs = p.pick(peer, peer === 'seed' ? all : peerHas(Number(peer)), 3)
              check(peer, reqs)
              for (const r of p.requestsOf(peer)) deliver(peer, r)
            }
            for (const index of complete.splice(0)) p.onPieceVerified(index)
          }
          for (let i = 0; i < pieceCount; i++) expect(p.has(i)).toBe(true)
        },
      ),
      { numRuns: 300 },
    )
  })
})
