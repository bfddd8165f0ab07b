import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type DHT from 'bittorrent-dht'
import { afterEach, describe, expect, it } from 'vitest'
import type { DhtNode } from '../../../../client/dht/dht-node.js'
import { createTorrent } from '../../../../client/metainfo/torrent-creator.js'
import { parseTorrentBytes } from '../../../../client/metainfo/torrent-loader.js'
import { SwarmClient } from '../../../../client/swarm/swarm-client.js'
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
