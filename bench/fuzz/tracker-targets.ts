import fc from 'fast-check'
import { parseAnnounceResponse } from '../../client/tracker-client/http-tracker-client.js'
import { decodeBencode, encodeBencode, isBencodeDict } from '../../protocol/bencode-codec.js'
import { TrackerError } from '../../protocol/errors.js'
import { decodeAnnounceQuery, decodeScrapeQuery } from '../../protocol/tracker/announce-query.js'
import { percentEncodeBytes } from '../../protocol/tracker/query-bytes.js'
import { trackerFixture } from '../../test/helpers/tracker-fixture.js'
import { bencodeInputArb } from './codec-targets.js'
import { type FuzzTarget, FuzzViolation } from './fuzz-target.js'
import { fuzzBytes, fuzzText } from './mutate.js'

const id20 = fc.uint8Array({ minLength: 20, maxLength: 20 })
const count = fc.oneof(fc.nat(), fc.constantFrom(0, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -1))

/** Announce answers: compact and dictionary peers, peers6, failures, the rendezvous offer. */
const announceAnswerArb = fc
  .record(
    {
      interval: count,
      'min interval': count,
      complete: count,
      incomplete: count,
      peers: fc.oneof(
        fc.uint8Array({ maxLength: 6 * 20 }),
        fc.array(
          fc.record(
            {
              ip: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()),
              port: fc.integer({ min: -1, max: 70000 }),
              'peer id': id20,
            },
            { requiredKeys: ['ip', 'port'] },
          ),
          { maxLength: 10 },
        ),
      ),
      peers6: fc.uint8Array({ maxLength: 18 * 10 }),
      'failure reason': fc.string({ maxLength: 60 }),
      'warning message': fc.string({ maxLength: 60 }),
      'tracker id': fc.uint8Array({ maxLength: 20 }),
      punchswarm: fc.record(
        {
          token: fc.uint8Array({ minLength: 1, maxLength: 64 }),
          'udp port': count,
          'alt port': count,
          firewalled: fc.array(
            fc.record({ 'peer id': id20, endpoint: fc.uint8Array({ maxLength: 18 }), nat: count }),
            { maxLength: 5 },
          ),
        },
        { requiredKeys: ['token', 'udp port'] },
      ),
      extra: bencodeInputArb,
    },
    { requiredKeys: ['interval'] },
  )
  .map((d) => encodeBencode(d))

export const announceResponseTarget: FuzzTarget<Uint8Array> = {
  name: 'http-announce-response',
  reads: 'parseAnnounceResponse (client/tracker-client/http-tracker-client.ts): HTTP tracker answers',
  arbitrary: fuzzBytes(announceAnswerArb, 4096),
  decode: (b) => parseAnnounceResponse('http://tracker.test/announce', b),
  allowed: [TrackerError],
  size: (b) => b.length,
}

const queryValue = fc.oneof(
  id20.map(percentEncodeBytes),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
  fc.constantFrom(
    '',
    '%',
    '%zz',
    '%4',
    '+',
    '0',
    '-1',
    '65536',
    '99999999999999999999',
    'started',
    'stopped',
  ),
)

/** Announce queries a BitTorrent client sends, keys and values shuffled and repeated. */
const announceQueryArb = fc
  .record({
    infoHash: id20,
    peerId: id20,
    port: fc.integer({ min: 0, max: 70000 }),
    left: fc.oneof(fc.nat(), fc.constant(2 ** 53)),
    event: fc.constantFrom('started', 'completed', 'stopped', 'empty', 'paused', '', 'bogus'),
    extra: fc.array(
      fc.tuple(
        fc.constantFrom(
          'numwant',
          'compact',
          'no_peer_id',
          'ip',
          'key',
          'trackerid',
          'punchswarm',
          'info_hash',
          'uploaded',
          'x',
        ),
        queryValue,
      ),
      { maxLength: 6 },
    ),
  })
  .map(({ infoHash, peerId, port, left, event, extra }) =>
    [
      `info_hash=${percentEncodeBytes(infoHash)}`,
      `peer_id=${percentEncodeBytes(peerId)}`,
      `port=${port}`,
      'uploaded=0',
      'downloaded=0',
      `left=${left}`,
      `event=${event}`,
      ...extra.map(([k, v]) => `${k}=${v}`),
    ].join('&'),
  )

export const announceQueryTarget: FuzzTarget<string> = {
  name: 'announce-query',
  reads: 'decodeAnnounceQuery (protocol/tracker/announce-query.ts): GET /announce query strings',
  arbitrary: fuzzText(announceQueryArb, 2048),
  decode: decodeAnnounceQuery,
  allowed: [TrackerError],
  size: (q) => q.length,
}

const scrapeQueryArb = fc
  .array(
    fc.oneof(
      id20.map((h) => `info_hash=${percentEncodeBytes(h)}`),
      queryValue.map((v) => `info_hash=${v}`),
    ),
    {
      maxLength: 80,
    },
  )
  .map((pairs) => pairs.join('&'))

export const scrapeQueryTarget: FuzzTarget<string> = {
  name: 'scrape-query',
  reads: 'decodeScrapeQuery (protocol/tracker/announce-query.ts): GET /scrape query strings',
  arbitrary: fuzzText(scrapeQueryArb, 4096),
  decode: (q) => decodeScrapeQuery(q, 64),
  allowed: [TrackerError],
  size: (q) => q.length,
}

let tracker: ReturnType<typeof trackerFixture> | undefined

/**
 * The tracker's HTTP routes end to end through fastify's inject: whatever the URL, the answer is
 * HTTP 200 with a bencoded dictionary (peers or a `failure reason`), never a 500 or a crash.
 */
export const trackerHttpTarget: FuzzTarget<string> = {
  name: 'tracker-http',
  reads: 'GET /announce and /scrape (tracker/http/*-route.ts) through fastify inject',
  arbitrary: fc
    .tuple(
      fc.constantFrom('/announce?', '/scrape?'),
      fuzzText(fc.oneof(announceQueryArb, scrapeQueryArb), 4096),
    )
    .map(([path, q]) => `${path}${q}`),
  decode: async (url) => {
    tracker ??= trackerFixture()
    // A URL that is not a valid request target never reaches a route: the HTTP parser refuses it.
    const res = await tracker.app.inject({
      method: 'GET',
      url: url.replace(/[^\x21-\x7e]/gu, (c) => Buffer.from(c).toString('hex').replace(/../g, '%$&')),
    })
    if (res.statusCode !== 200) throw new FuzzViolation(`tracker answered HTTP ${res.statusCode}`)
    const body = decodeBencode(res.rawPayload)
    if (!isBencodeDict(body)) throw new FuzzViolation('tracker answered with no dictionary')
    return body
  },
  allowed: [],
  size: (url) => url.length,
  close: async () => {
    await tracker?.app.close()
    tracker = undefined
  },
}
