import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { parseMagnet } from '../../client/metainfo/magnet-link.js'
import type { Metainfo } from '../../client/metainfo/metainfo-types.js'
import { metainfoFromInfoDict, parseTorrentBytes } from '../../client/metainfo/torrent-loader.js'
import { type BencodeInput, encodeBencode } from '../../protocol/bencode-codec.js'
import { ProtocolError, UsageError } from '../../protocol/errors.js'
import { bencodeInputArb } from './codec-targets.js'
import { type FuzzTarget, FuzzViolation } from './fuzz-target.js'
import { fuzzBytes, fuzzText } from './mutate.js'

const segment = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.constantFrom('..', '.', '', 'a/b', 'C:', '.pad', 'a\\b', 'x\0y'),
)

/**
 * Info dicts as torrent makers write them, single- and multi-file, with pad files, then one field
 * in four replaced by any bencode value so the layout checks are reached with wrong types.
 */
const infoDictArb: fc.Arbitrary<Record<string, BencodeInput>> = fc
  .record({
    name: segment,
    pieceLength: fc.constantFrom(16384, 32768, 1 << 20, 1, 0, -1, 2 ** 53 - 1),
    files: fc.option(
      fc.array(
        fc.record({
          length: fc.oneof(fc.nat({ max: 100_000 }), fc.constantFrom(-1, 2 ** 53 - 1)),
          path: fc.array(segment, { maxLength: 3 }),
          pad: fc.boolean(),
        }),
        { maxLength: 6 },
      ),
      { nil: undefined },
    ),
    length: fc.oneof(fc.nat({ max: 400_000 }), fc.constantFrom(-1, 2 ** 53 - 1)),
    private: fc.constantFrom(0, 1),
    hashSeed: fc.uint8Array({ minLength: 20, maxLength: 20 }),
    replace: fc.option(
      fc.tuple(
        fc.constantFrom('name', 'piece length', 'pieces', 'files', 'length', 'name.utf-8'),
        bencodeInputArb,
      ),
      { nil: undefined, freq: 3 },
    ),
  })
  .map(({ name, pieceLength, files, length, private: priv, hashSeed, replace }) => {
    const total = files ? files.reduce((n, f) => n + Math.max(0, f.length), 0) : Math.max(0, length)
    const pieceCount = pieceLength > 0 ? Math.min(200, Math.ceil(total / pieceLength)) : 1
    const pieces = new Uint8Array(20 * pieceCount)
    for (let i = 0; i < pieces.length; i++) pieces[i] = hashSeed[i % 20]! ^ i
    const info: Record<string, BencodeInput> = { name, 'piece length': pieceLength, pieces, private: priv }
    if (files) {
      info.files = files.map((f) =>
        f.pad ? { length: f.length, path: f.path, attr: 'p' } : { length: f.length, path: f.path },
      )
    } else {
      info.length = length
    }
    if (replace) info[replace[0]] = replace[1]
    return info
  })

const torrentArb = fc
  .record(
    {
      info: infoDictArb,
      announce: fc.webUrl(),
      'announce-list': fc.array(fc.array(fc.oneof(fc.webUrl(), fc.string()), { maxLength: 3 }), {
        maxLength: 3,
      }),
      comment: fc.string({ maxLength: 40 }),
      'creation date': fc.nat(),
    },
    { requiredKeys: ['info'] },
  )
  .map((t) => encodeBencode(t))

export const torrentTarget: FuzzTarget<Uint8Array> = {
  name: 'torrent',
  reads: 'parseTorrentBytes (client/metainfo/torrent-loader.ts): .torrent files',
  arbitrary: fuzzBytes(torrentArb, 8192),
  decode: parseTorrentBytes,
  allowed: [UsageError],
  check: (_input, m) => checkInfoHash(m as Metainfo),
  size: (b) => b.length,
}

/**
 * The info dict a magnet download assembles from ut_metadata pieces (BEP 9). Half the cases come
 * with the info hash of the unmutated dict (a peer sending wrong bytes), half with the hash of the
 * bytes as sent (a peer whose bytes match the hash but are not a valid info dict).
 */
export const utMetadataTarget: FuzzTarget<{ info: Uint8Array; expected: Uint8Array }> = {
  name: 'ut-metadata-info',
  reads: 'metainfoFromInfoDict (client/metainfo/torrent-loader.ts): info dicts fetched from peers (BEP 9)',
  arbitrary: fc
    .tuple(
      infoDictArb.map((d) => encodeBencode(d)),
      fc.boolean(),
    )
    .chain(([valid, matchSent]) =>
      fuzzBytes(fc.constant(valid), 8192).map((info) => ({ info, expected: sha1(matchSent ? info : valid) })),
    ),
  decode: ({ info, expected }) => metainfoFromInfoDict(info, [['http://tracker.test/announce']], expected),
  allowed: [UsageError, ProtocolError],
  check: ({ expected }, m) => {
    const metainfo = m as Metainfo
    if (!Buffer.from(metainfo.infoHash).equals(Buffer.from(expected)))
      throw new FuzzViolation('metadata accepted under another info hash')
    checkInfoHash(metainfo)
  },
  size: ({ info }) => info.length,
}

const magnetArb = fc
  .record({
    hash: fc.oneof(
      fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => Buffer.from(b).toString('hex')),
      fc.stringMatching(/^[A-Z2-7]{32}$/),
      fc.string({ maxLength: 45 }),
    ),
    dn: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
    tr: fc.array(fc.webUrl(), { maxLength: 3 }),
    pe: fc.array(
      fc.oneof(
        fc.ipV4().map((a) => `${a}:6881`),
        fc.ipV6().map((a) => `[${a}]:1`),
        fc.string(),
      ),
      {
        maxLength: 3,
      },
    ),
  })
  .map(({ hash, dn, tr, pe }) =>
    [
      `magnet:?xt=urn:btih:${hash}`,
      ...(dn === undefined ? [] : [`dn=${encodeURIComponent(dn)}`]),
      ...tr.map((u) => `tr=${encodeURIComponent(u)}`),
      ...pe.map((p) => `x.pe=${p}`),
    ].join('&'),
  )

export const magnetTarget: FuzzTarget<string> = {
  name: 'magnet',
  reads: 'parseMagnet (client/metainfo/magnet-link.ts): magnet links from users and web pages',
  arbitrary: fuzzText(magnetArb, 2048),
  decode: parseMagnet,
  allowed: [UsageError],
  check: (_input, link) => {
    if ((link as { infoHash: Uint8Array }).infoHash.length !== 20)
      throw new FuzzViolation('info hash is not 20 bytes')
  },
  size: (s) => s.length,
}

function checkInfoHash(m: Metainfo): void {
  if (!Buffer.from(m.infoHash).equals(Buffer.from(sha1(m.infoBytes))))
    throw new FuzzViolation('info hash is not the SHA-1 of the info bytes')
}

function sha1(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(b).digest())
}
