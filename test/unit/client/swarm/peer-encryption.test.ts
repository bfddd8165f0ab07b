import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Wire from 'bittorrent-protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { createTorrent } from '../../../../client/metainfo/torrent-creator.js'
import { parseTorrentBytes } from '../../../../client/metainfo/torrent-loader.js'
import {
  answerEncryption,
  type EncryptionMode,
  newWire,
  wireEncryption,
} from '../../../../client/swarm/peer-encryption.js'
import { SwarmClient } from '../../../../client/swarm/swarm-client.js'
import { PunchswarmError } from '../../../../protocol/errors.js'
import { until } from '../../../helpers/until.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-pe-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const INFO_HASH = randomBytes(20).toString('hex')
const OTHER_HASH = randomBytes(20).toString('hex')

interface Internals {
  _push(bytes: Uint8Array): void
  pipe<T>(to: T): T
}

/** A stock bittorrent-protocol initiator (2 = RC4 only, 0 = plaintext) wired to our responder. */
function pair(initiatorPe: 0 | 2, ourHashes: string[]) {
  const ours = newWire('in', 'tcp', 'allow')
  answerEncryption(ours, () => ourHashes)
  const theirs = new Wire('tcpOutgoing', initiatorPe)
  ;(theirs as unknown as Internals).pipe(ours)
  ;(ours as unknown as Internals).pipe(theirs)
  const errors: unknown[] = []
  ours.on('error', (err: unknown) => errors.push(err))
  theirs.on('error', () => {})
  ours.on('handshake', () => ours.handshake(INFO_HASH, randomBytes(20), { dht: false }))
  const handshaken = new Promise<void>((resolve) => theirs.once('handshake', () => resolve()))
  const start = async () => {
    if (initiatorPe) {
      const encrypted = new Promise<void>((resolve) => theirs.once('crypto-handshake', () => resolve()))
      theirs.startEncryption(INFO_HASH)
      await encrypted
    }
    theirs.handshake(INFO_HASH, randomBytes(20), { dht: false })
    await handshaken
  }
  return { ours, theirs, errors, start, push: (b: Uint8Array) => (theirs as unknown as Internals)._push(b) }
}

describe('MSE/PE on incoming connections', () => {
  it('an initiator requiring RC4 gets an RC4 stream, and its messages arrive intact', async () => {
    const p = pair(2, [OTHER_HASH, INFO_HASH])
    await p.start()
    expect(wireEncryption(p.ours)).toBe('rc4')
    const haves: number[] = []
    p.ours.on('have', (i: number) => haves.push(i))
    p.theirs.have(7)
    p.theirs.have(1234567)
    await until(() => haves.length === 2)
    expect(haves).toEqual([7, 1234567])
  })

  it('an oversized length prefix inside the RC4 stream is refused before the wire waits for it', async () => {
    const p = pair(2, [INFO_HASH])
    await p.start()
    p.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 7))
    await until(() => p.ours.destroyed)
    expect((p.errors[0] as PunchswarmError).code).toBe('DECODE_OVERSIZED')
  })

  it('a fixed-size message of the wrong size inside the RC4 stream is refused', async () => {
    const p = pair(2, [INFO_HASH])
    await p.start()
    // A `have` (id 4) of 2 bytes instead of 5.
    p.push(Uint8Array.of(0, 0, 0, 2, 4, 0))
    await until(() => p.ours.destroyed)
    expect(p.errors[0]).toBeInstanceOf(PunchswarmError)
    expect((p.errors[0] as PunchswarmError).code).toBe('DECODE_BAD_VALUE')
  })

  it('an initiator asking for a torrent we do not have is closed', async () => {
    const p = pair(2, [OTHER_HASH])
    p.theirs.startEncryption(INFO_HASH)
    await until(() => p.ours.destroyed)
  })

  it('a plaintext peer still gets through, and its stream is still framed', async () => {
    const p = pair(0, [INFO_HASH])
    await p.start()
    expect(wireEncryption(p.ours)).toBe('none')
    p.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 7))
    await until(() => p.ours.destroyed)
    expect((p.errors[0] as PunchswarmError).code).toBe('DECODE_OVERSIZED')
  })
})

describe('MSE/PE from a hostile peer', () => {
  it('a Diffie-Hellman key of 0 or 1 (crypto throws on it) closes that connection, not the process', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'file.bin'), randomBytes(50_000))
    const m = parseTorrentBytes(await createTorrent(join(dir, 'file.bin'), { pieceLength: 16384 }))
    const client = await SwarmClient.open({ host: '127.0.0.1', punch: false, utp: false })
    cleanups.push(() => client.close())
    await client.add({ infoHash: m.infoHash, metainfo: m, dir })
    for (const last of [0, 1]) {
      const socket = connect(client.port, '127.0.0.1')
      socket.on('error', () => {})
      await new Promise((resolve) => socket.once('connect', resolve))
      const closed = new Promise((resolve) => socket.once('close', resolve))
      // PE's first message: a 96-byte public key (here 0, then 1), then padding.
      const ya = new Uint8Array(96)
      ya[95] = last
      socket.write(Buffer.concat([ya, randomBytes(100)]))
      await closed
    }
    // Still serving: a stock initiator negotiates RC4 with it.
    const theirs = new Wire('tcpOutgoing', 2)
    const socket = connect(client.port, '127.0.0.1')
    cleanups.push(() => socket.destroy())
    socket.pipe(theirs as unknown as NodeJS.WritableStream)
    ;(theirs as unknown as Internals).pipe(socket)
    await new Promise((resolve) => socket.once('connect', resolve))
    const encrypted = new Promise((resolve) => theirs.once('crypto-handshake', resolve))
    theirs.startEncryption(Buffer.from(m.infoHash).toString('hex'))
    await encrypted
  })
})

describe('SwarmClient encryption modes', () => {
  async function seedAndGet(seedMode: EncryptionMode, getMode: EncryptionMode) {
    const dir = tempDir()
    const content = randomBytes(300_000)
    writeFileSync(join(dir, 'file.bin'), content)
    const m = parseTorrentBytes(await createTorrent(join(dir, 'file.bin'), { pieceLength: 16384 }))
    const seeder = await SwarmClient.open({ host: '127.0.0.1', punch: false, encryption: seedMode })
    cleanups.push(() => seeder.close())
    const seeding = await seeder.add({ infoHash: m.infoHash, metainfo: m, dir })
    const seederPeers: string[] = []
    seeding.on('peer', (l) => seederPeers.push(wireEncryption(l.wire)))
    const leecher = await SwarmClient.open({ host: '127.0.0.1', punch: false, encryption: getMode })
    cleanups.push(() => leecher.close())
    const out = join(dir, 'out')
    const session = await leecher.add({ infoHash: m.infoHash, metainfo: m, dir: out })
    const peers: string[] = []
    session.on('peer', (l) => peers.push(wireEncryption(l.wire)))
    session.addPeer('127.0.0.1', seeder.port)
    return { session, peers, seederPeers, content, file: join(out, 'file.bin') }
  }

  it('a leecher requiring encryption downloads over RC4 from a seeder that allows it', async () => {
    const r = await seedAndGet('allow', 'require')
    await until(() => r.session.complete, 20_000)
    expect(readFileSync(r.file).equals(r.content)).toBe(true)
    expect(r.peers.length).toBeGreaterThan(0)
    expect(r.peers.every((e) => e === 'rc4')).toBe(true)
    expect(r.seederPeers.every((e) => e === 'rc4')).toBe(true)
  })

  it('closes a connection that neither handshakes nor completes PE by the handshake deadline', async () => {
    const client = await SwarmClient.open({ host: '127.0.0.1', utp: false, handshakeTimeoutMs: 400 })
    cleanups.push(() => client.close())
    const socket = connect(client.port, '127.0.0.1')
    socket.on('error', () => {})
    await new Promise((resolve) => socket.once('connect', resolve))
    const opened = Date.now()
    // Not a handshake (its first byte is not 19), too short for PE's first message: it waits.
    socket.write(randomBytes(40).fill(7, 0, 1))
    await new Promise((resolve) => socket.once('close', resolve))
    expect(Date.now() - opened).toBeGreaterThanOrEqual(350)
    expect(Date.now() - opened).toBeLessThan(3000)
  })

  it('a leecher requiring encryption drops a peer that answers its PE handshake in plaintext', async () => {
    const server = createServer((socket) => {
      socket.on('error', () => {})
      const wire = new Wire()
      wire.on('error', () => {})
      socket.pipe(wire as unknown as NodeJS.WritableStream)
      ;(wire as unknown as Internals).pipe(socket)
      // Speaks first, in plaintext, whatever the dialler sent.
      wire.handshake(INFO_HASH, randomBytes(20), { dht: false })
      cleanups.push(() => socket.destroy())
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => server.close(resolve)))
    const leecher = await SwarmClient.open({
      host: '127.0.0.1',
      punch: false,
      utp: false,
      encryption: 'require',
    })
    cleanups.push(() => leecher.close())
    const session = await leecher.add({
      infoHash: Buffer.from(INFO_HASH, 'hex'),
      dir: tempDir(),
    })
    const peers: string[] = []
    session.on('peer', (l) => peers.push(wireEncryption(l.wire)))
    const dialled = new Promise((resolve) => server.once('connection', resolve))
    session.addPeer('127.0.0.1', (server.address() as { port: number }).port)
    await dialled
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(peers).toEqual([])
  })

  it('by default (prefer) a leecher downloads over RC4 from a seeder that requires it', async () => {
    const r = await seedAndGet('require', 'prefer')
    await until(() => r.session.complete, 20_000)
    expect(readFileSync(r.file).equals(r.content)).toBe(true)
    expect(r.peers.length).toBeGreaterThan(0)
    expect(r.peers.every((e) => e === 'rc4')).toBe(true)
  })

  it('by default two punchswarm peers open with PE and keep a plaintext payload', async () => {
    const r = await seedAndGet('prefer', 'prefer')
    await until(() => r.session.complete, 20_000)
    expect(readFileSync(r.file).equals(r.content)).toBe(true)
    expect(r.peers.length).toBeGreaterThan(0)
    expect(r.peers.every((e) => e === 'handshake')).toBe(true)
    expect(r.seederPeers.every((e) => e === 'handshake')).toBe(true)
  })

  it('by default a peer that does not speak PE is dialled again in plaintext and downloaded from', async () => {
    const dir = tempDir()
    const content = randomBytes(200_000)
    writeFileSync(join(dir, 'file.bin'), content)
    const m = parseTorrentBytes(await createTorrent(join(dir, 'file.bin'), { pieceLength: 16384 }))
    // A plaintext-only seed (stock bittorrent-protocol, no PE): it ends a connection that does not
    // open with the BitTorrent handshake.
    const firstBytes: number[] = []
    const server = createServer((socket) => {
      socket.on('error', () => {})
      socket.once('data', (d: Buffer) => firstBytes.push(d[0]!))
      const wire = new Wire()
      wire.on('error', () => {})
      socket.pipe(wire as unknown as NodeJS.WritableStream)
      ;(wire as unknown as Internals).pipe(socket)
      wire.on('handshake', () => {
        wire.handshake(m.infoHashHex, randomBytes(20), { dht: false })
        wire.bitfield(new Uint8Array(Math.ceil(m.layout.pieceCount / 8)).fill(0xff))
      })
      wire.on('interested', () => wire.unchoke())
      wire.on(
        'request',
        (i: number, o: number, n: number, respond: (e: Error | null, b: Uint8Array) => void) => {
          const at = i * m.layout.pieceLength + o
          respond(null, content.subarray(at, at + n))
        },
      )
      cleanups.push(() => socket.destroy())
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => server.close(resolve)))
    const leecher = await SwarmClient.open({ host: '127.0.0.1', punch: false, utp: false })
    cleanups.push(() => leecher.close())
    const out = join(dir, 'out')
    const session = await leecher.add({ infoHash: m.infoHash, metainfo: m, dir: out })
    session.addPeer('127.0.0.1', (server.address() as { port: number }).port)
    await until(() => session.complete, 20_000)
    expect(readFileSync(join(out, 'file.bin')).equals(content)).toBe(true)
    // The first connection opened with PE (a DH key) and was ended, the second with the handshake.
    expect(firstBytes.length).toBe(2)
    expect(firstBytes[1]).toBe(19)
  })

  it('a seeder requiring encryption turns a plaintext leecher away', async () => {
    const r = await seedAndGet('require', 'allow')
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(r.session.complete).toBe(false)
    expect(r.seederPeers).toEqual([])
    // The leecher's dials reached the seeder but no handshake came back: no peer was connected.
    expect(r.peers).toEqual([])
  })
})
