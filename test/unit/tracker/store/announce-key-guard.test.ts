import { describe, expect, it } from 'vitest'
import { TrackerError } from '../../../../protocol/errors.js'
import { announceKey } from '../../../../protocol/tracker/announce-key.js'
import { MemorySwarmStore } from '../../../../tracker/store/memory-swarm-store.js'
import type { StoreAnnounce } from '../../../../tracker/store/swarm-store.js'
import { storeAnnounce } from '../../../helpers/store-announce.js'
import { xorshiftRandom } from '../../../helpers/xorshift-random.js'

const victim = new Uint8Array(20).fill(7)

const ann = (over: Partial<StoreAnnounce>): StoreAnnounce => storeAnnounce(over, victim)

/** The one other peer's view: the compact address it is given for the victim. */
function seenAs(s: MemorySwarmStore, v6 = false): number[] {
  const r = s.announce(
    ann({
      peerId: new Uint8Array(20).fill(9),
      ip: v6 ? '2001:db8::9' : '198.18.0.9',
      family: v6 ? 'IPv6' : 'IPv4',
      port: 1,
    }),
  )
  return Array.from(v6 ? r.peers.compact6 : r.peers.compact4)
}

const refused = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    return err instanceof TrackerError && err.code === 'TRACKER_PEER_ID_TAKEN'
  }
  return false
}

describe('BEP 7 key: a peer id announced with a key stays with its owner', () => {
  it('refuses the peer id from another address without the key, and keeps the owner where it is', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(1) })
    s.announce(ann({ key: 0x1234abcd }))
    expect(refused(() => s.announce(ann({ ip: '203.0.113.66', port: 4444 })))).toBe(true)
    expect(refused(() => s.announce(ann({ ip: '203.0.113.66', port: 4444, key: 0xdeadbeef })))).toBe(true)
    // A spoofed `stopped` does not remove it either.
    expect(refused(() => s.announce(ann({ ip: '203.0.113.66', event: 'stopped' })))).toBe(true)
    expect(seenAs(s)).toEqual([198, 18, 0, 1, 6881 >> 8, 6881 & 0xff])
  })

  it('lets the owner move with its key (a new address, or the other address family)', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(1) })
    s.announce(ann({ key: 42 }))
    s.announce(ann({ ip: '203.0.113.5', port: 7000, key: 42 }))
    expect(seenAs(s)).toEqual([203, 0, 113, 5, 7000 >> 8, 7000 & 0xff])
    s.announce(ann({ ip: '2001:db8::5', family: 'IPv6', port: 7001, key: 42 }))
    expect(seenAs(s, true).slice(-2)).toEqual([7001 >> 8, 7001 & 0xff])
    // The key moved with it: the IPv4 address cannot take it back without the key.
    expect(refused(() => s.announce(ann({ ip: '203.0.113.5', port: 7000 })))).toBe(true)
    expect(s.size().peers).toBe(2)
  })

  it('accepts a new key from the address the record holds (a restarted client)', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(1) })
    s.announce(ann({ key: 1 }))
    s.announce(ann({ key: 2 }))
    expect(refused(() => s.announce(ann({ ip: '203.0.113.8', key: 1 })))).toBe(true)
    s.announce(ann({ ip: '203.0.113.8', key: 2 }))
    expect(seenAs(s).slice(0, 4)).toEqual([203, 0, 113, 8])
  })

  it('leaves clients that send no key as before, and gives no key to whoever moves their record', () => {
    const s = new MemorySwarmStore({ random: xorshiftRandom(1) })
    s.announce(ann({}))
    s.announce(ann({ ip: '203.0.113.66', port: 4444, key: 99 }))
    expect(seenAs(s).slice(0, 4)).toEqual([203, 0, 113, 66])
    // The owner, still without a key, takes its record back.
    s.announce(ann({}))
    expect(seenAs(s).slice(0, 4)).toEqual([198, 18, 0, 1])
  })
})

describe('announceKey', () => {
  const text = (s: string) => new TextEncoder().encode(s)

  it('reads the hex form libtorrent, Transmission and punchswarm send as the u32 they send over UDP', () => {
    expect(announceKey(text('1A2B3C4D'))).toBe(0x1a2b3c4d)
    expect(announceKey(text('ff'))).toBe(0xff)
    expect(announceKey(text('00000000'))).toBe(0)
  })

  it('hashes any other key to 32 bits, and has none for an empty or missing one', () => {
    const h = announceKey(text('not-a-hex-key'))
    expect(h).toBeGreaterThanOrEqual(0)
    expect(h).toBeLessThan(2 ** 32)
    expect(announceKey(text('not-a-hex-key'))).toBe(h)
    expect(announceKey(text('123456789'))).not.toBe(0x12345678)
    expect(announceKey(new Uint8Array(0))).toBeUndefined()
    expect(announceKey(undefined)).toBeUndefined()
  })
})
