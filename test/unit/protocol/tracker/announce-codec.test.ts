import bencode from 'bencode'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TrackerError } from '../../../../protocol/errors.js'
import { decodeAnnounceQuery, decodeScrapeQuery } from '../../../../protocol/tracker/announce-query.js'
import {
  encodeCompactAnnounce,
  encodeDictAnnounce,
  encodeFailure,
  encodeScrape,
} from '../../../../protocol/tracker/announce-response.js'
import { percentDecodeBytes, percentEncodeBytes } from '../../../../protocol/tracker/query-bytes.js'

const id20 = fc.uint8Array({ minLength: 20, maxLength: 20 })
const q = (h: Uint8Array, p: Uint8Array, rest = '&port=6881') =>
  `info_hash=${percentEncodeBytes(h)}&peer_id=${percentEncodeBytes(p)}${rest}`

describe('announce query', () => {
  it('decodes info_hash and peer_id as raw bytes, whatever they contain', () => {
    fc.assert(
      fc.property(id20, id20, (h, p) => {
        const a = decodeAnnounceQuery(
          q(h, p, '&port=1&uploaded=5&downloaded=6&left=7&event=started&numwant=3&compact=1'),
        )
        expect(a.infoHash).toEqual(h)
        expect(a.peerId).toEqual(p)
        expect(a).toMatchObject({
          port: 1,
          uploaded: 5,
          downloaded: 6,
          left: 7,
          event: 'started',
          numwant: 3,
          compact: true,
        })
      }),
    )
  })

  it('round-trips percent-encoding of any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(percentDecodeBytes(percentEncodeBytes(b))).toEqual(b)
      }),
    )
  })

  it('reads bytes >= 0x80 that a UTF-8 decode would garble', () => {
    const raw = `%FF%FE%80%00${'a'.repeat(16)}`
    const a = decodeAnnounceQuery(`info_hash=${raw}&peer_id=${raw}&port=80`)
    expect(Array.from(a.infoHash.subarray(0, 4))).toEqual([0xff, 0xfe, 0x80, 0x00])
  })

  const h = new Uint8Array(20).fill(1)
  const failures: [string, RegExp][] = [
    ['', /missing info_hash/],
    [`info_hash=abc&peer_id=${percentEncodeBytes(h)}&port=1`, /info_hash: must be 20 bytes, got 3/],
    [q(h, h, ''), /missing port/],
    [q(h, h, '&port=0'), /invalid port/],
    [q(h, h, '&port=70000'), /invalid port/],
    [q(h, h, '&port=-1'), /invalid port/],
    [q(h, h, '&port=1&left=1e9'), /invalid left/],
    [q(h, h, '&port=1&uploaded=abc'), /invalid uploaded/],
    [q(h, h, '&port=1&event=bogus'), /invalid event/],
    [`info_hash=%ZZ${'a'.repeat(18)}&peer_id=x&port=1`, /invalid info_hash encoding/],
    [`${q(h, h)}${'&x=1'.repeat(100)}`, /too many query parameters/],
  ]
  it.each(failures)('refuses %s with a clear reason', (query, reason) => {
    expect(() => decodeAnnounceQuery(query)).toThrowError(reason)
    try {
      decodeAnnounceQuery(query)
    } catch (err) {
      expect(err).toBeInstanceOf(TrackerError)
    }
  })

  it('throws only TrackerError for arbitrary query strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        try {
          decodeAnnounceQuery(s)
        } catch (err) {
          expect(err).toBeInstanceOf(TrackerError)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('refuses a badly escaped ip parameter with a TrackerError, like every other parameter', () => {
    const base = `info_hash=${'%01'.repeat(20)}&peer_id=${'%02'.repeat(20)}&port=6881`
    for (const ip of ['%zz', '%4', '\u00ff']) {
      let thrown: unknown
      try {
        decodeAnnounceQuery(`${base}&ip=${ip}`)
      } catch (err) {
        thrown = err
      }
      expect(thrown).toBeInstanceOf(TrackerError)
      expect((thrown as TrackerError).message).toBe('invalid ip encoding')
    }
    expect(decodeAnnounceQuery(`${base}&ip=10.0.0.1`).ip).toBe('10.0.0.1')
  })

  it('decodes several scrape hashes and bounds their number', () => {
    const hs = [new Uint8Array(20).fill(1), new Uint8Array(20).fill(0xff)]
    expect(decodeScrapeQuery(hs.map((x) => `info_hash=${percentEncodeBytes(x)}`).join('&'), 10)).toEqual(hs)
    expect(() =>
      decodeScrapeQuery(
        Array(11)
          .fill(`info_hash=${percentEncodeBytes(hs[0]!)}`)
          .join('&'),
        10,
      ),
    ).toThrow(/too many info_hash/)
  })
})

describe('announce response', () => {
  it('bencodes a compact answer that decodes to the same fields', () => {
    const compact4 = Uint8Array.of(198, 18, 0, 1, 0x1a, 0xe1)
    const compact6 = new Uint8Array(18).fill(0x20)
    const out = bencode.decode(
      encodeCompactAnnounce({
        interval: 1800,
        minInterval: 900,
        complete: 3,
        incomplete: 4,
        compact4,
        compact6,
        trackerId: Uint8Array.of(1, 2),
        warning: 'be nice',
        extra: { punchswarm: { token: Uint8Array.of(9) } },
      }),
    ) as Record<string, unknown>
    expect(out).toMatchObject({ complete: 3, incomplete: 4, interval: 1800, 'min interval': 900 })
    expect(out.peers).toEqual(compact4)
    expect(out.peers6).toEqual(compact6)
    expect(Buffer.from(out['warning message'] as Uint8Array).toString()).toBe('be nice')
    expect((out.punchswarm as Record<string, unknown>).token).toEqual(Uint8Array.of(9))
  })

  it('writes keys in sorted order, as bencode requires', () => {
    const bytes = encodeCompactAnnounce({
      interval: 1,
      minInterval: 1,
      complete: 0,
      incomplete: 0,
      compact4: new Uint8Array(0),
      compact6: new Uint8Array(18),
      trackerId: Uint8Array.of(1),
      warning: 'w',
      extra: { punchswarm: 1 },
    })
    // Re-encoding the decoded dict sorts keys: identical bytes mean they were sorted already.
    expect(Buffer.from(bencode.encode(bencode.decode(bytes)))).toEqual(Buffer.from(bytes))
  })

  it('writes the dictionary model with and without peer ids', () => {
    const a = {
      interval: 1,
      minInterval: 1,
      complete: 0,
      incomplete: 1,
      compact4: Uint8Array.of(198, 18, 0, 7, 0, 80),
      compact6: new Uint8Array(0),
      peerIds: [new Uint8Array(20).fill(5)],
    }
    const withIds = bencode.decode(encodeDictAnnounce(a, true)) as { peers: Record<string, unknown>[] }
    expect(Buffer.from(withIds.peers[0]!.ip as Uint8Array).toString()).toBe('198.18.0.7')
    expect(withIds.peers[0]).toMatchObject({ port: 80, 'peer id': new Uint8Array(20).fill(5) })
    const noIds = bencode.decode(encodeDictAnnounce(a, false)) as { peers: Record<string, unknown>[] }
    expect(noIds.peers[0]).not.toHaveProperty('peer id')
  })

  it('keys scrape files by raw info-hash bytes', () => {
    const h1 = new Uint8Array(20).fill(0xff)
    const h2 = new Uint8Array(20).fill(0x01)
    const bytes = encodeScrape([
      { infoHash: h1, complete: 1, incomplete: 2, downloaded: 3 },
      { infoHash: h2, complete: 4, incomplete: 5, downloaded: 6 },
    ])
    const text = Buffer.from(bytes).toString('latin1')
    expect(text.startsWith('d5:filesd20:')).toBe(true)
    expect(text.indexOf(Buffer.from(h2).toString('latin1'))).toBeLessThan(
      text.indexOf(Buffer.from(h1).toString('latin1')),
    )
    expect(text).toContain('d8:completei1e10:downloadedi3e10:incompletei2ee')
  })

  it('encodes a failure reason', () => {
    expect(Buffer.from(encodeFailure('missing info_hash')).toString()).toBe(
      'd14:failure reason17:missing info_hashe',
    )
  })
})
