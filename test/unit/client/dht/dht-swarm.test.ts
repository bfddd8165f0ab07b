import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type DHT from 'bittorrent-dht'
import { afterEach, describe, expect, it } from 'vitest'
import type { DhtNode } from '../../../../client/dht/dht-node.js'
import {
  DHT_MAX_DATAGRAM_BYTES,
  DHT_MAX_NODES_PER_REPLY,
  DHT_MAX_PEERS_PER_REPLY,
} from '../../../../client/dht/reply-bounds.js'
import { createTorrent } from '../../../../client/metainfo/torrent-creator.js'
import { parseTorrentBytes } from '../../../../client/metainfo/torrent-loader.js'
import { SwarmClient } from '../../../../client/swarm/swarm-client.js'
import {
  type BencodeDict,
  type BencodeInput,
  decodeBencode,
  encodeBencode,
} from '../../../../protocol/bencode-codec.js'
import { pingDhtNode, startPlainDhtNode } from '../../../helpers/dht-nodes.js'

const cleanups: (() => unknown)[] = []
/** Removed after every client closed (a closing client writes its resume data). */
const dirs: string[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-dht-'))
  dirs.push(dir)
  return dir
}

function plainNode(bootstrap: Array<{ host: string; port: number }>): Promise<DHT> {
  return startPlainDhtNode(bootstrap, cleanups)
}

/** Four stock nodes, each joined through the first. */
async function smallDht(): Promise<Array<{ host: string; port: number }>> {
  const first = await plainNode([])
  const entry = [{ host: '127.0.0.1', port: first.address().port }]
  for (let i = 0; i < 3; i++) await plainNode(entry)
  return entry
}

function announced(dht: DhtNode, infoHashHex: string): Promise<number> {
  return new Promise((resolve) => {
    const on = (hex: string, info: { nodes: number }) => {
      if (hex === infoHashHex && info.nodes > 0) {
        dht.off('announced', on)
        resolve(info.nodes)
      }
    }
    dht.on('announced', on)
  })
}

/** Peers a stock node's get_peers lookup finds for the info hash. */
async function lookupPeers(bootstrap: Array<{ host: string; port: number }>, infoHash: Uint8Array) {
  const node = await plainNode(bootstrap)
  const found: string[] = []
  node.on('peer', (p: { host: string; port: number }, ih: Uint8Array) => {
    if (Buffer.from(ih).equals(Buffer.from(infoHash))) found.push(`${p.host}:${p.port}`)
  })
  await new Promise<void>((resolve) => node.lookup(infoHash, () => resolve()))
  return found
}

async function seedFile(name: string, bytes: Uint8Array, opts: { private?: boolean } = {}) {
  const src = join(tempDir(), 'seed')
  mkdirSync(src)
  writeFileSync(join(src, name), bytes)
  const m = parseTorrentBytes(
    await createTorrent(join(src, name), {
      pieceLength: 64 * 1024,
      ...(opts.private ? { private: true } : {}),
    }),
  )
  return { src, m }
}

describe('the DHT (BEP 5) on the shared UDP socket', () => {
  it('a magnet link with no tracker and no peer finds the seeder through the DHT and completes', async () => {
    const bootstrap = await smallDht()
    const content = randomBytes(3 * 1024 * 1024 + 5)
    const { src, m } = await seedFile('payload.bin', content)

    const seeder = await SwarmClient.open({ host: '127.0.0.1', dht: { bootstrap } })
    cleanups.push(() => seeder.close())
    const stored = announced(seeder.dht!, m.infoHashHex)
    await seeder.add({ infoHash: m.infoHash, metainfo: m, dir: src })
    expect(await stored).toBeGreaterThanOrEqual(2)

    const leecher = await SwarmClient.open({ host: '127.0.0.1', dht: { bootstrap } })
    cleanups.push(() => leecher.close())
    const out = tempDir()
    const session = await leecher.add({ infoHash: m.infoHash, dir: out })
    const peers: string[] = []
    session.on('peer', (l) => peers.push(l.id))
    await new Promise<void>((resolve) => session.once('complete', () => resolve()))
    expect(readFileSync(join(out, 'payload.bin')).equals(content)).toBe(true)
    expect(peers).toContain(`127.0.0.1:${seeder.port}`)
  }, 30_000)

  it('a private torrent (BEP 27) is never announced; a public one on the same client is', async () => {
    const bootstrap = await smallDht()
    const open = await seedFile('public.bin', randomBytes(100_000))
    const closed = await seedFile('private.bin', randomBytes(100_000), { private: true })
    const seeder = await SwarmClient.open({ host: '127.0.0.1', dht: { bootstrap } })
    cleanups.push(() => seeder.close())
    const stored = announced(seeder.dht!, open.m.infoHashHex)
    const rounds: string[] = []
    seeder.dht!.on('announced', (hex) => rounds.push(hex))
    await seeder.add({ infoHash: closed.m.infoHash, metainfo: closed.m, dir: closed.src })
    await seeder.add({ infoHash: open.m.infoHash, metainfo: open.m, dir: open.src })
    await stored

    expect(await lookupPeers(bootstrap, open.m.infoHash)).toContain(`127.0.0.1:${seeder.port}`)
    expect(await lookupPeers(bootstrap, closed.m.infoHash)).toEqual([])
    expect(rounds).not.toContain(closed.m.infoHashHex)
  }, 30_000)

  it("peers tell each other their DHT port (PORT message) and join each other's routing table", async () => {
    const { src, m } = await seedFile('payload.bin', randomBytes(200_000))
    // No bootstrap at all: the only way each learns of the other's node is the wire.
    const seeder = await SwarmClient.open({ host: '127.0.0.1', dht: { bootstrap: [] } })
    cleanups.push(() => seeder.close())
    await seeder.add({ infoHash: m.infoHash, metainfo: m, dir: src })
    const leecher = await SwarmClient.open({ host: '127.0.0.1', dht: { bootstrap: [] } })
    cleanups.push(() => leecher.close())
    const session = await leecher.add({ infoHash: m.infoHash, metainfo: m, dir: tempDir() })
    expect(seeder.dht!.nodeCount).toBe(0)
    session.addPeer('127.0.0.1', seeder.port)
    await new Promise<void>((resolve) => session.once('complete', () => resolve()))
    const deadline = Date.now() + 5000
    while ((seeder.dht!.nodeCount === 0 || leecher.dht!.nodeCount === 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(seeder.dht!.nodeCount).toBe(1)
    expect(leecher.dht!.nodeCount).toBe(1)
  }, 30_000)

  it('replies stay small: at most 100 peers and 8 nodes, whatever was announced and known', async () => {
    // A routing table of 12 nodes, and one address that announces 300 ports for one hash.
    const first = await plainNode([])
    const entry = [{ host: '127.0.0.1', port: first.address().port }]
    for (let i = 0; i < 11; i++) await plainNode(entry)
    const client = await SwarmClient.open({ host: '127.0.0.1', dht: { bootstrap: entry } })
    cleanups.push(() => client.close())
    await client.dht!.ready()
    expect(client.dht!.nodeCount).toBeGreaterThan(DHT_MAX_NODES_PER_REPLY)

    const raw = createSocket('udp4')
    cleanups.push(() => raw.close())
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()))
    const replies = new Map<string, Buffer>()
    raw.on('message', (m: Buffer) => {
      const d = decodeBencode(m) as BencodeDict
      replies.set(Buffer.from(d.t as Uint8Array).toString(), m)
    })
    const ask = async (t: string, q: string, a: Record<string, BencodeInput>) => {
      raw.send(
        encodeBencode({ t, y: 'q', q, a: { id: new Uint8Array(20).fill(3), ...a } }),
        client.port,
        '127.0.0.1',
      )
      for (let i = 0; i < 100 && !replies.has(t); i++) await new Promise((r) => setTimeout(r, 10))
      const m = replies.get(t)
      if (!m) throw new Error(`no answer to ${q}`)
      return { bytes: m.length, r: (decodeBencode(m) as BencodeDict).r as BencodeDict }
    }
    const infoHash = new Uint8Array(20).fill(0x42)
    const { r } = await ask('t0', 'get_peers', { info_hash: infoHash })
    for (let port = 1000; port < 1300; port++) {
      raw.send(
        encodeBencode({
          t: `a${port}`,
          y: 'q',
          q: 'announce_peer',
          a: { id: new Uint8Array(20).fill(3), info_hash: infoHash, port, token: r.token as Uint8Array },
        }),
        client.port,
        '127.0.0.1',
      )
      if (port % 50 === 0) await new Promise((r) => setTimeout(r, 5))
    }
    await new Promise((r) => setTimeout(r, 200))
    const withPeers = await ask('t1', 'get_peers', { info_hash: infoHash })
    expect((withPeers.r.values as Uint8Array[]).length).toBe(DHT_MAX_PEERS_PER_REPLY)
    expect(withPeers.bytes).toBeLessThanOrEqual(DHT_MAX_DATAGRAM_BYTES)
    const nodes = await ask('t2', 'find_node', { target: new Uint8Array(20).fill(9) })
    expect((nodes.r.nodes as Uint8Array).length).toBe(DHT_MAX_NODES_PER_REPLY * 26)
    expect(nodes.bytes).toBeLessThanOrEqual(DHT_MAX_DATAGRAM_BYTES)
  }, 30_000)

  it('without the DHT option the client runs no node: a ping to its port goes unanswered', async () => {
    const client = await SwarmClient.open({ host: '127.0.0.1' })
    cleanups.push(() => client.close())
    expect(client.dht).toBeUndefined()
    const probe = await plainNode([])
    expect(await pingDhtNode(probe, client.port)).toBe(false)
    // The same probe is answered by a client that runs the DHT: the test can tell the two apart.
    const withDht = await SwarmClient.open({ host: '127.0.0.1', dht: { bootstrap: [] } })
    cleanups.push(() => withDht.close())
    expect(await pingDhtNode(probe, withDht.port)).toBe(true)
  }, 15_000)
})
