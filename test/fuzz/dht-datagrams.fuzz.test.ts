import { createSocket, type Socket } from 'node:dgram'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import bencode from 'bencode'
import type DHT from 'bittorrent-dht'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fuzzSeed } from '../../bench/fuzz/fuzz-targets.js'
import { type CliProcess, runCli } from '../helpers/cli-process.js'
import { pingDhtNode, startPlainDhtNode } from '../helpers/dht-nodes.js'

/**
 * Hostile DHT traffic at a seeding client (`punchswarm seed`, its own process) whose DHT node shares
 * its UDP socket with uTP: KRPC messages with every field of the wrong type or size, truncated and
 * mutated encodings, unknown queries, replies to queries never sent, and the negative string length
 * that hangs k-rpc-socket's `bencode`. The DHT code is a library's; whatever it throws must stay
 * inside the DHT, and afterwards the process is alive, its node still answers, and it still stores
 * and hands out peers.
 */

const RUNS = Number(process.env.PUNCHSWARM_FUZZ_DHT_RUNS ?? 3000)
const seed = fuzzSeed() + 2000
console.log(`DHT datagram fuzz seed ${seed} (replay with PUNCHSWARM_FUZZ_SEED=${seed - 2000})`)

const KEYS = [
  't',
  'y',
  'q',
  'a',
  'r',
  'e',
  'id',
  'target',
  'info_hash',
  'token',
  'port',
  'implied_port',
  'nodes',
  'values',
  'v',
  'k',
  'seq',
  'sig',
  'salt',
  'cas',
]
const WORDS = ['q', 'r', 'e', 'ping', 'find_node', 'get_peers', 'announce_peer', 'get', 'put', 'vote']

type Bencodable = number | Uint8Array | string | Bencodable[] | { [k: string]: Bencodable }

const value: fc.Arbitrary<Bencodable> = fc.letrec<{ v: Bencodable }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -1, max: 70_000 }),
    fc.constantFrom(...WORDS),
    fc.uint8Array({ minLength: 0, maxLength: 64 }),
    fc.constantFrom(2, 6, 20, 26).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('v'), { maxKeys: 6 }),
  ),
})).v

/** A KRPC-shaped dictionary: the right top-level keys, anything under them. */
const krpc = fc.record(
  {
    t: fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 4 }), value),
    y: fc.oneof(fc.constantFrom('q', 'r', 'e'), value),
    q: fc.oneof(fc.constantFrom(...WORDS), value),
    a: fc.oneof(fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 8 }), value),
    r: fc.oneof(fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 8 }), value),
    e: value,
  },
  { requiredKeys: [] },
)

const datagram = fc.oneof(
  krpc.map((m) => bencode.encode(m)),
  // A valid encoding cut short or with bytes changed.
  fc
    .tuple(krpc, fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }))
    .map(([m, cut, flips]) => {
      const b = Uint8Array.from(bencode.encode(m))
      for (const [at, byte] of flips) if (b.length > 1) b[1 + (at % (b.length - 1))] = byte
      return b.subarray(0, Math.max(1, b.length - (cut % 8)))
    }),
  fc.uint8Array({ minLength: 0, maxLength: 200 }).map((b) => Uint8Array.from([0x64, ...b])),
)

const cleanups: (() => unknown)[] = []
let seeder: CliProcess
let port: number
let probe: DHT
let sender: Socket

beforeAll(async () => {
  probe = await startPlainDhtNode([], cleanups)
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-dht-fuzz-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'payload.bin'), Buffer.alloc(100_000, 1))
  seeder = runCli([
    'seed',
    join(dir, 'payload.bin'),
    '-p',
    '0',
    '--json',
    '--dht-bootstrap',
    `127.0.0.1:${probe.address().port}`,
  ])
  cleanups.push(async () => {
    seeder.kill('SIGKILL')
    await seeder.exited
  })
  port = Number(JSON.parse(await seeder.waitForLine(/"event":"listening"/)).port)
  sender = createSocket('udp4')
  sender.on('message', () => {})
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', () => r()))
  cleanups.push(() => sender.close())
})

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe('hostile datagrams at the DHT node on the shared socket', () => {
  it(`${RUNS} malformed KRPC datagrams: nothing escapes, and the node still answers and stores peers`, async () => {
    const batches = fc.sample(fc.array(datagram, { minLength: 50, maxLength: 50 }), {
      seed,
      numRuns: Math.ceil(RUNS / 50),
    })
    // The datagram that hangs k-rpc-socket's `bencode` (negative string length), then the random ones.
    sender.send(Buffer.from('d1:ad2:id20:aaaaaaaaaaaaaaaaaaaa1:r-3:xyzee'), port, '127.0.0.1')
    for (const batch of batches) {
      for (const d of batch) sender.send(d, port, '127.0.0.1')
      // Let the batch be read before the next: the socket buffer is not what is under test.
      await new Promise((r) => setTimeout(r, 5))
    }
    await new Promise((r) => setTimeout(r, 200))
    expect(await pingDhtNode(probe, port)).toBe(true)
    const infoHash = Buffer.alloc(20, 7)
    await new Promise<void>((resolve, reject) =>
      probe.announce(infoHash, 6881, (err) => (err ? reject(err) : resolve())),
    )
    const found = await new Promise<string[]>((resolve) => {
      const peers: string[] = []
      const on = (peer: { host: string; port: number }) => peers.push(`${peer.host}:${peer.port}`)
      probe.on('peer', on)
      probe.lookup(infoHash, () => {
        probe.off('peer', on)
        resolve(peers)
      })
    })
    expect(found).toContain('127.0.0.1:6881')
    expect(seeder.child.exitCode).toBeNull()
  }, 60_000)
})
